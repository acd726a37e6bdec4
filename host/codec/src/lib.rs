//! clio-codec
