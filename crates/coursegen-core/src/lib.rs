//! coursegen domain: outline, request, stage contracts, keys, errors and the store/model traits.
