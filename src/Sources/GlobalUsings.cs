global using System.Globalization;

global using Sync.Engine.Changes;
global using Sync.Engine.Checks;
global using Sync.Engine.Config;
global using Sync.Engine.Runtime;
global using Sync.Engine.Sources;
global using Sync.Engine.Topics;
global using Sync.Pulsar;
global using Sync.Pulsar.Admin;
