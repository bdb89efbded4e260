namespace CgFs.Accounting;

/// <summary>Linux errno values. Every engine and grammar result is one of these (0 = success);
/// the FUSE layer sends them back negated, exactly as the kernel's cgroupfs would.</summary>
public enum Errno
{
    Ok = 0,
    EPERM = 1,
    ENOENT = 2,
    ESRCH = 3,
    EINTR = 4,
    EIO = 5,
    E2BIG = 7,
    EBADF = 9,
    EAGAIN = 11,
    ENOMEM = 12,
    EACCES = 13,
    EFAULT = 14,
    EBUSY = 16,
    EEXIST = 17,
    ENODEV = 19,
    ENOTDIR = 20,
    EISDIR = 21,
    EINVAL = 22,
    EMFILE = 24,
    EFBIG = 27,
    ENOSPC = 28,
    EROFS = 30,
    ERANGE = 34,
    ENOSYS = 38,
    ENOTEMPTY = 39,
    ENODATA = 61,
    EPROTO = 71,
    EOPNOTSUPP = 95,
    ENOBUFS = 105,
    EDQUOT = 122,
}
