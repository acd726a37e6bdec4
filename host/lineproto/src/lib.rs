//! clio-lineproto
