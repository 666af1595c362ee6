using Flywheel.Cache.Nix;
using FsCheck;
using FsCheck.Fluent;

namespace Flywheel.Cache.Tests.Nix;

/// <summary>FsCheck generators for valid Nix values.</summary>
internal static class NixGen
{
    private const string NameChars = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789+-._?=";

    public static Gen<string> HashPart =>
        Gen.Elements(NixBase32.Alphabet.ToCharArray()).ArrayOf(32).Select(c => new string(c));

    public static Gen<string> Name =>
        from length in Gen.Choose(1, 211)
        from first in Gen.Elements(NameChars.Where(c => c != '.').ToArray())
        from rest in Gen.Elements(NameChars.ToCharArray()).ArrayOf(length - 1)
        select first + new string(rest);

    public static Gen<string> BaseName => from h in HashPart from n in Name select h + "-" + n;

    public static Gen<NixHash> Hash =>
        Gen.Choose(0, 255).ArrayOf(32)
            .Select(b => NixHash.FromDigest(Flywheel.Cache.Storage.BlobDigest.FromBytes(b.Select(x => (byte)x).ToArray())));

    public static Gen<T?> OrNone<T>(Gen<T> gen)
        where T : struct =>
        Gen.OneOf(gen.Select(x => (T?)x), Gen.Constant((T?)null));

    public static Gen<string> Text(string chars, int min, int max) =>
        from n in Gen.Choose(min, max)
        from c in Gen.Elements(chars.ToCharArray()).ArrayOf(n)
        select new string(c);

    public static Gen<NarInfo> NarInfo =>
        from path in BaseName
        from urlTail in HashPart
        from compression in Gen.Elements("none", "xz", "zstd", "br", "bzip2")
        from fileHash in OrNone(Hash)
        from fileSize in OrNone(Gen.Choose(0, int.MaxValue).Select(n => (long)n))
        from narHash in Hash
        from narSize in Gen.Choose(1, int.MaxValue)
        from refs in BaseName.ListOf().Select(l => l.Distinct().ToList())
        from deriver in BaseName.Select(b => b.Length > 200 ? b[..200] : b).Select(b => b + ".drv").OrNull()
        from system in Gen.Elements("x86_64-linux", "aarch64-darwin").OrNull()
        from sigs in Text("abcdefghijklmnopqrstuvwxyz0123456789+/=", 1, 88).Select(s => "key-1:" + s).ListOf()
        from ca in Gen.Constant("fixed:r:sha256:0mdqa9w1p6cmli6976v4wi0sw9r4p5prkj7lzfd1877wk11c9c73").OrNull()
        select new NarInfo
        {
            StorePath = StorePath.FromBaseName(path),
            Url = "nar/" + urlTail + ".nar",
            Compression = compression,
            FileHash = fileHash,
            FileSize = fileSize,
            NarHash = narHash,
            NarSize = narSize,
            References = refs,
            Deriver = deriver,
            System = system,
            Sigs = sigs.ToList(),
            Ca = ca,
        };
}
