"""Operations: what is inside the running Redis (memory, slow log, keyspace, metrics) and the server labs."""
