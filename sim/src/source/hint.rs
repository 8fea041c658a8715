//! The WAN-capture hint's part of the scan ([`super::Scan`]): a split of the trace's first
//! IP packets into sides, for [`WanHint`], done as little as gives the warning a split of the
//! whole window gives.
//!
//! - The split waits for a packet that can make the hint warn ([`WanHint::can_warn`]): until
//!   one comes, the warning is `None` whatever the sides. A trace whose first packet can
//!   warn (a capture with private clients or public hosts) is split from its start; a
//!   trace of documentation, reserved or IPv6 addresses alone (test traces, the generated
//!   flood) is never split; one whose first such packet comes later has the hint redone
//!   from its start when the scan finishes.
//! - The split stops once the hint can only still change through PPPoE: once a LAN-side
//!   client with a private address is seen, [`WanHint::warning`] is settled unless a LAN-side
//!   packet carries a PPPoE session. From there it only watches for an IP packet with a
//!   PPPoE session in the window; if one comes, the hint is redone from the start with a
//!   split of the whole window.
//!
//! A redo reads the window again on the decoding thread, a cost only captures that need one
//! pay. On a LAN capture the splitter runs for a few packets instead of the first million
//! (it was 6–8 % of a one-configuration run's CPU), and on a flood of documentation
//! addresses not at all (it was 21 % of its run's CPU).

use offsim_kernel::sides::{SideMode, SideSplitter, WanHint};
use offsim_traces::meta::{PacketMeta, flags};

use super::{Input, Reader, SourceError};

/// Where the hint's split stands.
enum State {
    /// No packet so far could make the hint warn: no IP packet split yet. The splitter has
    /// been shown the non-IP packets before the first IP one (they move its clock, not its
    /// tuples), and is dropped at the first IP packet that cannot warn.
    Waiting(Option<Box<SideSplitter>>),
    /// Splitting from the trace's first packet.
    Split(Box<SideSplitter>, WanHint),
    /// The split stopped with the hint settled unless a PPPoE packet comes.
    Watch,
    /// The hint is redone from the trace's start when the scan finishes; `whole`: with a
    /// split of the whole window, else as this scan does it from the first packet.
    Redo { whole: bool },
    /// The hint is settled.
    Done(Option<String>),
}

/// The WAN-capture hint's scan over the trace's first `window` IP packets.
pub(super) struct HintScan {
    sides: SideMode,
    window: u64,
    state: State,
    #[cfg(test)]
    split: u64,
}

impl HintScan {
    /// A scan for `sides`; `None` when the sides are not guessed from the traffic (only the
    /// `flow` and `single` modes guess them, and only a guess can take a WAN capture for a
    /// LAN one).
    pub(super) fn new(sides: &SideMode, window: u64) -> Option<HintScan> {
        matches!(sides, SideMode::Flow | SideMode::Single).then(|| HintScan {
            sides: sides.clone(),
            window,
            state: State::Waiting(Some(Box::new(SideSplitter::new(sides.clone())))),
            #[cfg(test)]
            split: 0,
        })
    }

    /// IP packets split so far (for tests): the redo's are not counted.
    #[cfg(test)]
    pub(super) fn split_packets(&self) -> u64 {
        self.split
    }

    /// Notes the trace's next packet, the `ip_packets`-th IP packet at most; `false` once
    /// the hint needs no more.
    #[inline]
    pub(super) fn note(&mut self, m: &PacketMeta, ip_packets: u64) -> bool {
        if let State::Waiting(sp) = &mut self.state {
            if WanHint::can_warn(m) {
                // The sides of earlier IP packets decide those of later ones: a split begun
                // after one would not be the trace's.
                self.state = match sp.take() {
                    Some(sp) => State::Split(sp, WanHint::default()),
                    None => State::Redo { whole: false },
                };
            } else if m.is_ip() {
                *sp = None;
                if ip_packets >= self.window {
                    self.state = State::Done(None);
                }
            } else if let Some(sp) = sp {
                sp.side(m, m.ts);
            }
        }
        match &mut self.state {
            State::Split(sp, hint) => {
                hint.note(m, sp.side(m, m.ts));
                #[cfg(test)]
                {
                    self.split += u64::from(m.is_ip());
                }
                // The hint needs the capture's start, not all of it: the splitter's tuples
                // would otherwise follow every flow of a long trace.
                if ip_packets >= self.window {
                    self.state = State::Done(hint.warning());
                } else if hint.settled_but_pppoe() {
                    self.state = State::Watch;
                }
            }
            State::Watch => {
                if m.is_ip() && m.has(flags::PPPOE) {
                    self.state = State::Redo { whole: true };
                } else if ip_packets >= self.window {
                    self.state = State::Done(None);
                }
            }
            State::Waiting(_) | State::Redo { .. } | State::Done(_) => {}
        }
        matches!(
            self.state,
            State::Waiting(_) | State::Split(..) | State::Watch
        )
    }

    /// The warning, the hint redone over `input` when the scan needs it.
    pub(super) fn finish(self, input: &Input) -> Result<Option<String>, SourceError> {
        Ok(match self.state {
            State::Split(_, hint) => hint.warning(),
            State::Waiting(_) | State::Watch => None,
            State::Done(w) => w,
            State::Redo { whole: true } => wan_hint(input, &self.sides, self.window)?,
            State::Redo { whole: false } => {
                let mut s = HintScan {
                    state: split(&self.sides),
                    ..self
                };
                let (mut r, mut m, mut ip) = (Reader::open(input)?, PacketMeta::default(), 0);
                while r.next_into(&mut m)? {
                    ip += u64::from(m.is_ip());
                    if !s.note(&m, ip) {
                        break;
                    }
                }
                // a redo from the first packet never waits, so never asks for this one
                debug_assert!(!matches!(s.state, State::Redo { whole: false }));
                s.finish(input)?
            }
        })
    }
}

/// A split from the trace's first packet.
fn split(sides: &SideMode) -> State {
    State::Split(
        Box::new(SideSplitter::new(sides.clone())),
        WanHint::default(),
    )
}

/// The WAN-capture hint from a split of the trace's first `window` IP packets.
pub(super) fn wan_hint(
    input: &Input,
    sides: &SideMode,
    window: u64,
) -> Result<Option<String>, SourceError> {
    let mut r = Reader::open(input)?;
    let (mut sp, mut hint) = (SideSplitter::new(sides.clone()), WanHint::default());
    let (mut ip, mut m) = (0, PacketMeta::default());
    while r.next_into(&mut m)? {
        hint.note(&m, sp.side(&m, m.ts));
        ip += u64::from(m.is_ip());
        if ip >= window {
            break;
        }
    }
    Ok(hint.warning())
}
