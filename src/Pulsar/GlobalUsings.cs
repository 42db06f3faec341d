global using System.Buffers;
global using System.Buffers.Binary;

global using Sync.Pulsar.Internal;
global using Sync.Pulsar.Protocol;
global using Sync.Pulsar.Protocol.Proto;
