//! clio-config
