-- The cluster over Redis pub/sub (core/cluster_redis.c): see spec/support/cluster_suite.lua.
require "support.cluster_suite"("redis", getfenv(1))
