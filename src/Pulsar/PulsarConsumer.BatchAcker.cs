namespace Sync.Pulsar;

public sealed partial class PulsarConsumer
{
    /// <summary>Which delivered messages of one batch entry the application has not acknowledged yet.</summary>
    private sealed class BatchAcker
    {
        private readonly bool[] _unacked;
        private int _remaining;

        /// <summary>The entry's id carrying ack_set (1 = still unacknowledged) and batch_size.</summary>
        public MessageIdData PartialAck(MessageId entryId)
        {
            var data = entryId.ToProto();
            data.AckSet.AddRange(AckSet.FromPending(_unacked.Length, Enumerable.Range(0, _unacked.Length).Where(i => _unacked[i])));
            data.BatchSize = _unacked.Length;
            return data;
        }

        public BatchAcker(int size, List<int> delivered)
        {
            _unacked = new bool[size];
            foreach (var index in delivered)
            {
                _unacked[index] = true;
            }
            _remaining = delivered.Count;
        }

        /// <summary>Returns true when this ack completed the batch.</summary>
        public bool AckIndividual(int index)
        {
            if ((uint)index < (uint)_unacked.Length && _unacked[index])
            {
                _unacked[index] = false;
                _remaining--;
            }
            return _remaining == 0;
        }

        public bool AckUpTo(int index)
        {
            for (var i = 0; i <= index && i < _unacked.Length; i++)
            {
                AckIndividual(i);
            }
            return _remaining == 0;
        }
    }
}
