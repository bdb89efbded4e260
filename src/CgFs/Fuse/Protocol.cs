using System.Runtime.InteropServices;

namespace CgFs.Fuse;

/// <summary>FUSE opcodes (linux/fuse.h, enum fuse_opcode).</summary>
public enum Opcode : uint
{
    Lookup = 1, Forget = 2, GetAttr = 3, SetAttr = 4, ReadLink = 5, Symlink = 6, MkNod = 8, MkDir = 9,
    Unlink = 10, RmDir = 11, Rename = 12, Link = 13, Open = 14, Read = 15, Write = 16, StatFs = 17,
    Release = 18, Fsync = 20, SetXattr = 21, GetXattr = 22, ListXattr = 23, RemoveXattr = 24, Flush = 25,
    Init = 26, OpenDir = 27, ReadDir = 28, ReleaseDir = 29, FsyncDir = 30, GetLk = 31, SetLk = 32,
    SetLkW = 33, Access = 34, Create = 35, Interrupt = 36, Bmap = 37, Destroy = 38, Ioctl = 39, Poll = 40,
    NotifyReply = 41, BatchForget = 42, Fallocate = 43, ReadDirPlus = 44, Rename2 = 45, Lseek = 46,
    CopyFileRange = 47, SyncFs = 50, TmpFile = 51, Statx = 52,
}

/// <summary>Constants of the protocol we speak (7.38 structures; the kernel here speaks 7.45 and
/// uses our minor for struct sizes).</summary>
public static class Fuse
{
    public const uint KernelVersion = 7;
    public const uint KernelMinorVersion = 38;
    public const ulong RootId = 1;

    public const uint AsyncRead = 1 << 0;
    public const uint AtomicOTrunc = 1 << 3;
    public const uint BigWrites = 1 << 5;
    public const uint DoReaddirplus = 1 << 13;
    public const uint ReaddirplusAuto = 1 << 14;
    public const uint ParallelDirops = 1 << 18;
    public const uint MaxPages = 1 << 22;
    /// <summary>FUSE_INIT_EXT: the flags continue in flags2 (bits 32–63).</summary>
    public const uint InitExt = 1u << 30;
    /// <summary>FUSE_OVER_IO_URING (bit 41), as a flags2 bit.</summary>
    public const uint OverIoUring2 = 1u << (41 - 32);

    public const uint FopenDirectIo = 1 << 0;

    public const uint PollScheduleNotify = 1 << 0;
    public const int NotifyPoll = 1;
    public const int NotifyInvalEntry = 3;

    /// <summary>How long the kernel may cache entries and attributes: an hour, as the C floor does.
    /// Names vanish behind its back only when a controller is disabled, PSI files are hidden or a
    /// cgroup is removed, and those are invalidated explicitly; names that appear were never cached
    /// (ENOENT is not cached); every attribute change goes through the kernel (SETATTR, MKDIR and
    /// RMDIR refresh or invalidate what it holds).</summary>
    public const ulong CacheSeconds = 3600;

    public const uint FattrMode = 1 << 0, FattrUid = 1 << 1, FattrGid = 1 << 2, FattrSize = 1 << 3,
        FattrAtime = 1 << 4, FattrMtime = 1 << 5, FattrFh = 1 << 6, FattrAtimeNow = 1 << 7,
        FattrMtimeNow = 1 << 8, FattrCtime = 1 << 10;

    /// <summary>Largest WRITE payload we accept; must exceed 4096 so E2BIG writes reach us whole (core.md 8.9).</summary>
    public const int MaxWrite = 128 * 1024;
    /// <summary>A request buffer must hold max_write plus the headers.</summary>
    public const int RequestBufferSize = MaxWrite + 4096;
}

/// <summary>FUSE over io_uring (linux/fuse.h 7.42): the commands and the layout of
/// struct fuse_uring_req_header, the per-entry header buffer the kernel reads and writes.</summary>
public static class FuseUring
{
    public const uint CmdRegister = 1, CmdCommitAndFetch = 2;
    /// <summary>fuse_in_header on the way in, fuse_out_header on the way out.</summary>
    public const int InOut = 0;
    /// <summary>The opcode's own header (FUSE_URING_OP_IN_OUT_SZ bytes); the rest of the
    /// request is in the payload buffer.</summary>
    public const int OpIn = 128, OpInSize = 128;
    /// <summary>struct fuse_uring_ent_in_out: flags, commit_id, payload_sz.</summary>
    public const int CommitId = 256 + 8, PayloadSize = 256 + 16;
    public const int HeaderSize = 256 + 32;
    /// <summary>struct fuse_uring_cmd_req in the SQE's command area (offset 48): flags,
    /// commit_id, qid.</summary>
    public const int SqeCmdFlags = 48, SqeCmdCommitId = 56, SqeCmdQid = 64;
}

[StructLayout(LayoutKind.Sequential)]
public struct InHeader
{
    public uint Len;
    public Opcode Opcode;
    public ulong Unique;
    public ulong NodeId;
    public uint Uid;
    public uint Gid;
    public uint Pid;
    public ushort TotalExtLen;
    public ushort Padding;
}

[StructLayout(LayoutKind.Sequential)]
public struct OutHeader
{
    public uint Len;
    public int Error;
    public ulong Unique;
}

[StructLayout(LayoutKind.Sequential)]
public struct FuseAttr
{
    public ulong Ino;
    public ulong Size;
    public ulong Blocks;
    public ulong Atime;
    public ulong Mtime;
    public ulong Ctime;
    public uint AtimeNsec;
    public uint MtimeNsec;
    public uint CtimeNsec;
    public uint Mode;
    public uint Nlink;
    public uint Uid;
    public uint Gid;
    public uint Rdev;
    public uint BlkSize;
    public uint Flags;
}

[StructLayout(LayoutKind.Sequential)]
public struct EntryOut
{
    public ulong NodeId;
    public ulong Generation;
    public ulong EntryValid;
    public ulong AttrValid;
    public uint EntryValidNsec;
    public uint AttrValidNsec;
    public FuseAttr Attr;
}

[StructLayout(LayoutKind.Sequential)]
public struct AttrOut
{
    public ulong AttrValid;
    public uint AttrValidNsec;
    public uint Dummy;
    public FuseAttr Attr;
}

[StructLayout(LayoutKind.Sequential)]
public struct InitIn
{
    public uint Major;
    public uint Minor;
    public uint MaxReadahead;
    public uint Flags;
    public uint Flags2;
}

[StructLayout(LayoutKind.Sequential)]
public unsafe struct InitOut
{
    public uint Major;
    public uint Minor;
    public uint MaxReadahead;
    public uint Flags;
    public ushort MaxBackground;
    public ushort CongestionThreshold;
    public uint MaxWrite;
    public uint TimeGran;
    public ushort MaxPages;
    public ushort MapAlignment;
    public uint Flags2;
    public fixed uint Unused[7];
}

[StructLayout(LayoutKind.Sequential)]
public struct SetAttrIn
{
    public uint Valid;
    public uint Padding;
    public ulong Fh;
    public ulong Size;
    public ulong LockOwner;
    public ulong Atime;
    public ulong Mtime;
    public ulong Ctime;
    public uint AtimeNsec;
    public uint MtimeNsec;
    public uint CtimeNsec;
    public uint Mode;
    public uint Unused4;
    public uint Uid;
    public uint Gid;
    public uint Unused5;
}

[StructLayout(LayoutKind.Sequential)]
public struct OpenIn { public uint Flags; public uint OpenFlags; }

[StructLayout(LayoutKind.Sequential)]
public struct OpenOut { public ulong Fh; public uint OpenFlags; public uint Padding; }

[StructLayout(LayoutKind.Sequential)]
public struct CreateIn { public uint Flags; public uint Mode; public uint Umask; public uint OpenFlags; }

[StructLayout(LayoutKind.Sequential)]
public struct MkDirIn { public uint Mode; public uint Umask; }

[StructLayout(LayoutKind.Sequential)]
public struct MkNodIn { public uint Mode; public uint Rdev; public uint Umask; public uint Padding; }

[StructLayout(LayoutKind.Sequential)]
public struct RenameIn { public ulong NewDir; }

[StructLayout(LayoutKind.Sequential)]
public struct Rename2In { public ulong NewDir; public uint Flags; public uint Padding; }

[StructLayout(LayoutKind.Sequential)]
public struct ReadIn
{
    public ulong Fh;
    public ulong Offset;
    public uint Size;
    public uint ReadFlags;
    public ulong LockOwner;
    public uint Flags;
    public uint Padding;
}

[StructLayout(LayoutKind.Sequential)]
public struct WriteIn
{
    public ulong Fh;
    public ulong Offset;
    public uint Size;
    public uint WriteFlags;
    public ulong LockOwner;
    public uint Flags;
    public uint Padding;
}

[StructLayout(LayoutKind.Sequential)]
public struct WriteOut { public uint Size; public uint Padding; }

[StructLayout(LayoutKind.Sequential)]
public struct ReleaseIn { public ulong Fh; public uint Flags; public uint ReleaseFlags; public ulong LockOwner; }

[StructLayout(LayoutKind.Sequential)]
public struct ForgetIn { public ulong NLookup; }

[StructLayout(LayoutKind.Sequential)]
public struct ForgetOne { public ulong NodeId; public ulong NLookup; }

[StructLayout(LayoutKind.Sequential)]
public struct BatchForgetIn { public uint Count; public uint Dummy; }

[StructLayout(LayoutKind.Sequential)]
public unsafe struct KStatFs
{
    public ulong Blocks;
    public ulong BFree;
    public ulong BAvail;
    public ulong Files;
    public ulong FFree;
    public uint BSize;
    public uint NameLen;
    public uint FrSize;
    public uint Padding;
    public fixed uint Spare[6];
}

[StructLayout(LayoutKind.Sequential)]
public struct GetXattrIn { public uint Size; public uint Padding; }

[StructLayout(LayoutKind.Sequential)]
public struct GetXattrOut { public uint Size; public uint Padding; }

[StructLayout(LayoutKind.Sequential)]
public struct SetXattrIn { public uint Size; public uint Flags; public uint SetXattrFlags; public uint Padding; }

[StructLayout(LayoutKind.Sequential)]
public struct AccessIn { public uint Mask; public uint Padding; }

[StructLayout(LayoutKind.Sequential)]
public struct PollIn { public ulong Fh; public ulong Kh; public uint Flags; public uint Events; }

[StructLayout(LayoutKind.Sequential)]
public struct PollOut { public uint Revents; public uint Padding; }

[StructLayout(LayoutKind.Sequential)]
public struct NotifyPollWakeupOut { public ulong Kh; }

[StructLayout(LayoutKind.Sequential)]
public struct NotifyInvalEntryOut { public ulong Parent; public uint NameLen; public uint Flags; }

[StructLayout(LayoutKind.Sequential)]
public struct DirentHeader { public ulong Ino; public ulong Off; public uint NameLen; public uint Type; }
