namespace Toolkit.Infra;

/// <summary>
/// A lock on a file in the cache (flock: .NET takes LOCK_EX for FileShare.None and LOCK_SH otherwise).
/// Exclusive while a process changes a shared tree (unpacking, applying the series, building into one
/// output directory); shared while it only reads one (building from it, generating bindings from it).
/// Other toolkit processes wait, saying so once. The kernel releases it if the holder dies.
/// </summary>
public sealed class FileLock : IDisposable
{
    readonly FileStream stream;

    FileLock(FileStream s) => stream = s;

    public static FileLock Acquire(string path, string what, TimeSpan? timeout = null, bool shared = false)
    {
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        var deadline = DateTime.UtcNow + (timeout ?? TimeSpan.FromHours(1));
        var told = false;
        while (true)
        {
            try
            {
                return new FileLock(new FileStream(path, FileMode.OpenOrCreate, FileAccess.ReadWrite,
                    shared ? FileShare.ReadWrite : FileShare.None));
            }
            catch (IOException) when (DateTime.UtcNow < deadline)
            {
                if (!told) Progress.Step($"waiting for another toolkit process that holds {what} ({path})");
                told = true;
                Thread.Sleep(500);
            }
            catch (IOException)
            {
                throw new ToolkitException(ExitCodes.BuildFailed, $"gave up waiting for {what} ({path})");
            }
        }
    }

    public void Dispose() => stream.Dispose();
}
