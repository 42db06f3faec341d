global using System.Globalization;
global using System.Text;
global using System.Text.Json;
global using Sync.Engine.Changes;
global using Sync.Engine.Sinks;
global using Sync.Testing;
global using Sync.Testing.Changes;
