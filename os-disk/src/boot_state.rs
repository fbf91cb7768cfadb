//! Which slot boots: the grubenv variables GRUB's menu (`grub_cfg`) and ros share.
//!
//! - `ros_slot`: the last slot known good. GRUB boots it unless a trial is pending.
//! - `ros_next` + `ros_tries`: a slot on trial (after `ros os upgrade`) and the boots it has left.
//!   GRUB takes one try per boot; PID 1 marks the slot good when the system reaches ready.
//! - `ros_rollback`: set by GRUB when the tries ran out; PID 1 records the rollback and clears it.

use crate::grubenv::GrubEnv;
use crate::layout::Slot;

/// Boots a new slot gets before GRUB falls back.
pub const TRIES: u32 = 3;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BootState {
    pub good: Slot,
    pub next: Option<Slot>,
    pub tries: u32,
    pub rolled_back: Option<Slot>,
}

impl BootState {
    pub fn installed(slot: Slot) -> BootState {
        BootState {
            good: slot,
            next: None,
            tries: 0,
            rolled_back: None,
        }
    }

    pub fn from_env(env: &GrubEnv) -> BootState {
        let slot = |k| env.get(k).and_then(Slot::parse);
        BootState {
            good: slot("ros_slot").unwrap_or(Slot::A),
            next: slot("ros_next"),
            tries: env
                .get("ros_tries")
                .and_then(|t| t.parse().ok())
                .unwrap_or(0),
            rolled_back: slot("ros_rollback"),
        }
    }

    pub fn write_to(&self, env: &mut GrubEnv) {
        env.set("ros_slot", self.good.name());
        env.set("ros_next", self.next.map(Slot::name).unwrap_or(""));
        env.set(
            "ros_tries",
            &if self.next.is_some() {
                self.tries.to_string()
            } else {
                String::new()
            },
        );
        env.set(
            "ros_rollback",
            self.rolled_back.map(Slot::name).unwrap_or(""),
        );
    }

    /// After an upgrade wrote `slot`: try it on the next boots.
    pub fn schedule_trial(&mut self, slot: Slot) {
        self.next = Some(slot);
        self.tries = TRIES;
        self.rolled_back = None;
    }

    /// The running slot reached ready: boot it from now on.
    pub fn mark_good(&mut self, slot: Slot) {
        self.good = slot;
        self.next = None;
        self.tries = 0;
    }

    /// `ros os rollback`: back to the other slot, for good, with no trial.
    pub fn switch_to(&mut self, slot: Slot) {
        self.good = slot;
        self.next = None;
        self.tries = 0;
        self.rolled_back = None;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_trial_round_trips_through_grubenv() {
        let mut state = BootState::installed(Slot::A);
        state.schedule_trial(Slot::B);
        let mut env = GrubEnv::default();
        state.write_to(&mut env);
        assert_eq!(env.get("ros_next"), Some("B"));
        assert_eq!(env.get("ros_tries"), Some("3"));
        assert_eq!(BootState::from_env(&env), state);
        state.mark_good(Slot::B);
        state.write_to(&mut env);
        assert_eq!(env.get("ros_slot"), Some("B"));
        assert_eq!(env.get("ros_next"), None);
        assert_eq!(env.get("ros_tries"), None);
    }

    #[test]
    fn an_empty_env_boots_slot_a() {
        let state = BootState::from_env(&GrubEnv::default());
        assert_eq!(state, BootState::installed(Slot::A));
    }
}
