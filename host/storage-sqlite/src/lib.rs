//! clio-storage-sqlite
