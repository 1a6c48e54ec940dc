using System.CommandLine;
using Toolkit;

return Cli.Run(args);
