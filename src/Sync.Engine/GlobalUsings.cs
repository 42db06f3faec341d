global using System.Globalization;
global using System.Text;
global using System.Text.Json;

global using Sync.Engine.Changes;
global using Sync.Engine.Config;
global using Sync.Engine.DeadLetters;
global using Sync.Engine.Formats;
global using Sync.Engine.Sinks;
global using Sync.Engine.Sources;
global using Sync.Engine.Topics;
