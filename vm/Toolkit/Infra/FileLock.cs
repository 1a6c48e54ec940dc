namespace Toolkit.Infra;

/// <summary>
/// An exclusive lock on a file in the cache, held while a process changes a shared tree (unpacking,
/// applying the series, building a flavour). Other toolkit processes wait for it, saying so once.
/// The kernel releases it if the holder dies.
/// </summary>
public sealed class FileLock : IDisposable
{
    readonly FileStream stream;

    FileLock(FileStream s) => stream = s;

    public static FileLock Acquire(string path, string what, TimeSpan? timeout = null)
    {
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        var deadline = DateTime.UtcNow + (timeout ?? TimeSpan.FromHours(1));
        var told = false;
        while (true)
        {
            try
            {
                return new FileLock(new FileStream(path, FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.None));
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
