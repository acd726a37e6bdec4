//! The Glass AI tables' background jobs (docs/glass-ai.md): the zombie registry following
//! the sensors table ([`zombies`]) and model quality metrics on a schedule ([`quality`]).
//! Both are started by the composition root ([`crate::server`]) when configured; they reach
//! the engine and the tables directly, as the housekeeper does, not through the door (no
//! request, no principal).

pub mod quality;
pub mod zombies;
