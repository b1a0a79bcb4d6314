"""GitHub's GraphQL API for packages at HOSTNAME/api/graphql (strawberry): `Package`, `PackageVersion`,
`PackageFile` and `PackageStatistics` reached from `repository`, `user`, `organization` and `viewer`,
and the `deletePackageVersion` mutation, over the read model of `appliance.packages`."""
