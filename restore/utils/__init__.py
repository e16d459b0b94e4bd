"""Plumbing shared by the entry points: config resolvers, building objects, errors, loggers."""
