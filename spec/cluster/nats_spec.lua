-- The cluster over NATS (core/cluster_nats.c): see spec/support/cluster_suite.lua.
require "support.cluster_suite"("nats", getfenv(1))
