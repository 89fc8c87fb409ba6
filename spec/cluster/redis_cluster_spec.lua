-- The cluster over a Redis Cluster (core/cluster_redis_shards.c, cluster.url
-- redis-cluster://): the story of spec/support/cluster_suite.lua on sharded pub/sub.
require "support.cluster_suite"("redis-cluster", getfenv(1))
