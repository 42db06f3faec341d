global using Sync.Engine.Changes;
global using Sync.Engine.Config;
global using Sync.Engine.Runtime;
global using Sync.Engine.Sinks;
global using Sync.Engine.Sources;
global using Sync.Engine.Topics;
global using Sync.Compliance.Ledger;
