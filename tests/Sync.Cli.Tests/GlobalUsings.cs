global using System.Globalization;
global using System.Text;
global using System.Text.Json;
global using Sync.Testing;
global using Sync.Testing.Files;
global using Sync.Testing.Process;
