global using System.Text;
global using Sync.Pulsar.Protocol;
global using Sync.Pulsar.Protocol.Proto;
global using Sync.Testing.Pulsar;
