global using Sync.Compliance.Erasure;
global using Sync.Compliance.Erasure.Steps;
global using Sync.Compliance.Ledger;
global using Sync.Engine.Changes;
global using Sync.Engine.Config;
global using Sync.Engine.Runtime;
global using Sync.Engine.Sources;
global using Sync.Testing.Files;
