//! cloud-init's data side: reading what a datasource provides (user-data, metadata) and saving
//! it where the configuration layers pick it up. Finding and mounting drives is the host's job.

pub mod drive;
pub mod save;
pub mod user_data;
