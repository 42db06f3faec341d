using Sync.Cli;

return await SyncCli.InvokeAsync(args, Console.Out, Console.Error);
