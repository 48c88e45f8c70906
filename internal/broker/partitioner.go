package broker

// partitionForKey picks the partition of a keyed event: FNV-1a 32-bit of
// the key bytes, modulo the partition count. The hash is part of Herald's
// contract — clients may compute it to know where a key lives — so it must
// never change. Like Kafka's, the mapping changes when partitions grow, so a
// key's events before and after growth sit in different partitions.
func partitionForKey(key string, partitions int) int {
	// FNV-1a as in hash/fnv, inlined so the hot path does not allocate.
	h := uint32(2166136261)
	for i := 0; i < len(key); i++ {
		h ^= uint32(key[i])
		h *= 16777619
	}
	return int(h % uint32(partitions))
}

// PartitionForKey is partitionForKey for clients and tests.
func PartitionForKey(key string, partitions int) int {
	if partitions <= 0 {
		return 0
	}
	return partitionForKey(key, partitions)
}
