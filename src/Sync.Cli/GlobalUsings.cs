global using System.CommandLine;
global using System.Globalization;

global using Sync.Cli.Output;
global using Sync.Engine.Config;
global using Sync.Engine.Runtime;
