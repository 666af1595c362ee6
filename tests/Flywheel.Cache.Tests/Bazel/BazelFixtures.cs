using System.Text;
using Build.Bazel.Remote.Execution.V2;
using Flywheel.Cache.Bazel;
using Google.Protobuf;
using RemoteDirectory = Build.Bazel.Remote.Execution.V2.Directory;

namespace Flywheel.Cache.Tests.Bazel;

/// <summary>Blobs, directories, trees and action results for the Bazel tests.</summary>
internal static class BazelFixtures
{
    public static byte[] Bytes(string text) => Encoding.UTF8.GetBytes(text);

    public static BazelDigest DigestOf(string text) => BazelDigest.Compute(Bytes(text));

    public static BazelDigest DigestOf(IMessage message) => BazelDigest.Compute(message.ToByteArray());

    public static FileNode File(string name, string content) => new() { Name = name, Digest = DigestOf(content).ToProto() };

    public static DirectoryNode Node(string name, RemoteDirectory directory) => new() { Name = name, Digest = DigestOf(directory).ToProto() };

    /// <summary>
    /// A tree three levels deep: root { a.txt, sub { b.txt, deeper { c.txt } }, other { a.txt again } }.
    /// </summary>
    public static (Tree Tree, RemoteDirectory Root, RemoteDirectory Sub, RemoteDirectory Deeper, RemoteDirectory Other) NestedTree()
    {
        var deeper = new RemoteDirectory { Files = { File("c.txt", "c") } };
        var sub = new RemoteDirectory { Files = { File("b.txt", "b") }, Directories = { Node("deeper", deeper) } };
        var other = new RemoteDirectory { Files = { File("a.txt", "a") }, Symlinks = { new SymlinkNode { Name = "link", Target = "../sub" } } };
        var root = new RemoteDirectory
        {
            Files = { File("a.txt", "a") },
            Directories = { Node("other", other), Node("sub", sub) },
        };
        return (new Tree { Root = root, Children = { sub, deeper, other } }, root, sub, deeper, other);
    }

    public static ActionResult Result(Tree? tree = null, string stdout = "out", string stderr = "err", params string[] outputs)
    {
        var result = new ActionResult
        {
            ExitCode = 0,
            StdoutDigest = DigestOf(stdout).ToProto(),
            StderrDigest = DigestOf(stderr).ToProto(),
            OutputSymlinks = { new OutputSymlink { Path = "bin/link", Target = "tool" } },
        };
        foreach (var output in outputs)
        {
            result.OutputFiles.Add(new OutputFile { Path = $"bin/{output}", Digest = DigestOf(output).ToProto(), IsExecutable = true });
        }

        if (tree is not null)
        {
            result.OutputDirectories.Add(new OutputDirectory { Path = "out/dir", TreeDigest = DigestOf(tree).ToProto() });
        }

        return result;
    }
}
