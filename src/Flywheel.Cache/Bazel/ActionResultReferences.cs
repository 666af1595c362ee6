using Build.Bazel.Remote.Execution.V2;

namespace Flywheel.Cache.Bazel;

/// <summary>
/// What an ActionResult points at in the CAS, for the action cache's completeness check: the output files,
/// stdout and stderr, each output directory's Tree blob and every file inside that Tree (root and children),
/// and the root Directory blob when the result names one. Symlinks point at paths, not blobs.
/// Also the well-formedness check for action results clients upload.
/// </summary>
public static class ActionResultReferences
{
    /// <summary>
    /// Every distinct digest <paramref name="result"/> references, reading each output directory's Tree through
    /// <paramref name="readTree"/>. Returns null when a Tree cannot be read (missing or not a Tree): then the
    /// entry cannot be shown to be complete. Digests that are malformed are skipped (they cannot be found).
    /// </summary>
    public static async ValueTask<IReadOnlyCollection<BazelDigest>?> CollectAsync(
        ActionResult result, Func<BazelDigest, CancellationToken, ValueTask<Tree?>> readTree, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(result);
        ArgumentNullException.ThrowIfNull(readTree);
        var digests = new HashSet<BazelDigest>();
        AddDirect(result, digests);
        foreach (var directory in result.OutputDirectories)
        {
            if (!BazelDigest.TryFrom(directory.TreeDigest, out var treeDigest))
            {
                continue;
            }

            var tree = await readTree(treeDigest, cancellationToken).ConfigureAwait(false);
            if (tree is null)
            {
                return null;
            }

            AddTree(tree, digests);
        }

        return digests;
    }

    /// <summary>The digests named by the result itself: output files, stdout, stderr, Tree and root Directory blobs.</summary>
    public static void AddDirect(ActionResult result, ISet<BazelDigest> digests)
    {
        foreach (var file in result.OutputFiles)
        {
            Add(file.Digest, digests);
        }

        Add(result.StdoutDigest, digests);
        Add(result.StderrDigest, digests);
        foreach (var directory in result.OutputDirectories)
        {
            Add(directory.TreeDigest, digests);
            Add(directory.RootDirectoryDigest, digests);
        }
    }

    /// <summary>The file digests in every Directory of a Tree. Subdirectories are inside the Tree, not separate blobs.</summary>
    public static void AddTree(Tree tree, ISet<BazelDigest> digests)
    {
        if (tree.Root is { } root)
        {
            AddFiles(root, digests);
        }

        foreach (var child in tree.Children)
        {
            AddFiles(child, digests);
        }
    }

    private static void AddFiles(Build.Bazel.Remote.Execution.V2.Directory directory, ISet<BazelDigest> digests)
    {
        foreach (var file in directory.Files)
        {
            Add(file.Digest, digests);
        }
    }

    private static void Add(Digest? digest, ISet<BazelDigest> digests)
    {
        if (BazelDigest.TryFrom(digest, out var parsed))
        {
            digests.Add(parsed);
        }
    }

    /// <summary>
    /// Checks an ActionResult a client uploads (UpdateActionResult, HTTP <c>/ac/</c> PUT): every output file and
    /// output directory has a path and a well-formed digest, stdout/stderr digests are well-formed when present,
    /// and symlinks have a path and a target. Throws <see cref="CacheError.Invalid"/> naming the first problem.
    /// </summary>
    public static void Validate(ActionResult result)
    {
        ArgumentNullException.ThrowIfNull(result);
        for (var i = 0; i < result.OutputFiles.Count; i++)
        {
            var file = result.OutputFiles[i];
            RequirePath(file.Path, $"output_files[{i}]");
            BazelDigest.From(file.Digest, $"output_files[{i}] ({file.Path}) digest");
        }

        for (var i = 0; i < result.OutputDirectories.Count; i++)
        {
            var directory = result.OutputDirectories[i];
            RequirePath(directory.Path, $"output_directories[{i}]", allowEmpty: true);
            BazelDigest.From(directory.TreeDigest, $"output_directories[{i}] ({directory.Path}) tree_digest");
            if (directory.RootDirectoryDigest is not null)
            {
                BazelDigest.From(directory.RootDirectoryDigest, $"output_directories[{i}] ({directory.Path}) root_directory_digest");
            }
        }

        ValidateSymlinks(result.OutputSymlinks, "output_symlinks");
#pragma warning disable CS0612 // deprecated upstream, still sent by clients of API 2.0
        ValidateSymlinks(result.OutputFileSymlinks, "output_file_symlinks");
        ValidateSymlinks(result.OutputDirectorySymlinks, "output_directory_symlinks");
#pragma warning restore CS0612
        if (result.StdoutDigest is not null)
        {
            BazelDigest.From(result.StdoutDigest, "stdout_digest");
        }

        if (result.StderrDigest is not null)
        {
            BazelDigest.From(result.StderrDigest, "stderr_digest");
        }
    }

    private static void ValidateSymlinks(Google.Protobuf.Collections.RepeatedField<OutputSymlink> symlinks, string field)
    {
        for (var i = 0; i < symlinks.Count; i++)
        {
            RequirePath(symlinks[i].Path, $"{field}[{i}]");
            if (symlinks[i].Target.Length == 0)
            {
                throw CacheException.Invalid($"{field}[{i}] ({symlinks[i].Path}) has no target");
            }
        }
    }

    // Output paths are relative to the working directory. An output directory may be the working directory itself ("").
    private static void RequirePath(string path, string what, bool allowEmpty = false)
    {
        if (path.Length == 0 && !allowEmpty)
        {
            throw CacheException.Invalid($"{what} has no path");
        }

        if (path.StartsWith('/'))
        {
            throw CacheException.Invalid($"{what} path '{path}' is absolute; output paths are relative to the working directory");
        }
    }
}
