global using System.Globalization;
global using System.Text;
global using Microsoft.Extensions.Logging.Abstractions;
global using Sync.Engine.Changes;
global using Sync.Engine.Config;
global using Sync.Engine.Formats;
global using Sync.Engine.Runtime;
global using Sync.Engine.Sources;
