namespace CgFs.Accounting;

/// <summary>
/// A successful charge of any controller (kernel: what an uverbs object or a VM holds). It
/// remembers the state it was made against and is always uncharged from there, wherever its
/// process went since. One release contract, so a charging context keeps a list of charges
/// without knowing their controllers.
/// </summary>
public abstract class Charge
{
    public bool Released { get; private set; }

    /// <summary>Gives the charge back, once; later calls do nothing. Requires the engine lock.</summary>
    public void UnchargeLocked()
    {
        if (Released)
            return;
        Released = true;
        ReleaseLocked();
    }

    /// <summary>The controller's uncharge (kernel: rdmacg_uncharge, misc_cg_uncharge).</summary>
    protected abstract void ReleaseLocked();
}
