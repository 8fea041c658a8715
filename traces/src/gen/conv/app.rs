//! What the application does over a connection: the transfers it asks for, in order.

use crate::r#gen::rng::Rng;

/// One transfer requested by an application.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Transfer {
    /// Sending side (0 = client).
    pub(crate) dir: u8,
    /// Bytes (≥ 1).
    pub(crate) bytes: u64,
    /// Application think/processing time before the first byte, ns.
    pub(crate) think: u64,
    /// Absolute earliest start time (0 = none), for periodic applications.
    pub(crate) not_before: u64,
}

/// Request size of HTTP-like requests: log-normal, median 500 B (typical HTTP/2 request
/// headers after HPACK plus cookies), clamped to 80..4000 B.
fn request_bytes(rng: &mut Rng) -> u64 {
    (rng.lognormal_median(500.0, 0.5) as u64).clamp(80, 4000)
}

/// Server processing time: log-normal, median 2 ms.
fn server_think(rng: &mut Rng) -> u64 {
    (rng.lognormal_median(2e6, 0.8) as u64).clamp(50_000, 200_000_000)
}

/// What the application does over the connection.
#[derive(Clone, Debug)]
pub(crate) enum App {
    /// No data (scans, floods, refused connections).
    None,
    /// HTTP(S)-like request/response exchanges after an optional TLS 1.3 handshake.
    Web {
        /// TLS handshake first.
        tls: bool,
        /// Exchanges left.
        left: u32,
        /// Median response size, bytes (log-normal).
        resp_median: f64,
        /// Sigma of the response size's log.
        resp_sigma: f64,
        /// Mean client think time between exchanges, ns (exponential).
        think_mean: f64,
        /// Internal stage counter.
        stage: u32,
    },
    /// Adaptive video streaming (DASH/HLS): a segment request every `period`, each answered
    /// by `chunk` bytes at the path's full rate: an on/off elephant.
    Video {
        /// Segments left.
        left: u32,
        /// Segment size, bytes (bitrate × period).
        chunk: u64,
        /// Segment duration, ns.
        period: u64,
        /// Absolute time of the next segment request (0 = not started).
        next_req: u64,
        /// Internal stage counter.
        stage: u32,
    },
    /// One request, then `resp` bytes back (or `req` bytes up when uploading): bulk
    /// transfers, RPCs, flows of a given size.
    Rpc {
        /// TLS handshake first.
        tls: bool,
        /// Request bytes (client → server).
        req: u64,
        /// Response bytes (server → client).
        resp: u64,
        /// Internal stage counter.
        stage: u32,
    },
    /// Long-lived, mostly idle connection (push channels, keepalives): small messages in
    /// either direction every `interval_mean` ns on average.
    Keepalive {
        /// Messages left.
        left: u32,
        /// Mean gap between messages, ns.
        interval_mean: f64,
        /// Internal stage counter.
        stage: u32,
    },
}

impl App {
    /// TLS 1.3 handshake flights. Returns `None` once the handshake is over.
    fn tls_stage(stage: u32, quic: bool, rng: &mut Rng) -> Option<Transfer> {
        match stage {
            // ClientHello: 517 B classic, ~1.8 kB with a post-quantum key share; a QUIC
            // Initial datagram is padded to at least 1200 bytes (RFC 9000 §14.1).
            0 => {
                let b = if rng.chance(0.5) { 517 } else { 1_780 };
                let b = if quic {
                    if b > 1250 { 2_500 } else { 1_250 }
                } else {
                    b
                };
                Some(Transfer {
                    dir: 0,
                    bytes: b,
                    think: rng.range(20_000, 200_000),
                    not_before: 0,
                })
            }
            // Server flight: ServerHello .. Finished with a certificate chain.
            1 => Some(Transfer {
                dir: 1,
                bytes: (rng.lognormal_median(4_000.0, 0.35) as u64).clamp(1_500, 12_000),
                think: rng.range(100_000, 3_000_000),
                not_before: 0,
            }),
            _ => None,
        }
    }

    /// The next transfer, or `None` when the application is done. `k` counts the transfers
    /// so far; `t_end` is the time of the previous transfer's last packet.
    pub(crate) fn next(&mut self, rng: &mut Rng, quic: bool, t_end: u64) -> Option<Transfer> {
        match self {
            App::None => None,
            App::Web {
                tls,
                left,
                resp_median,
                resp_sigma,
                think_mean,
                stage,
            } => {
                let s = *stage;
                *stage += 1;
                let hs = if *tls || quic { 2 } else { 0 };
                if s < hs {
                    return App::tls_stage(s, quic, rng);
                }
                let i = s - hs;
                if *left == 0 {
                    return None;
                }
                if i % 2 == 0 {
                    // Request (with the TLS Finished right after the handshake).
                    let extra = if i == 0 && hs > 0 { 80 } else { 0 };
                    let think = if i == 0 {
                        rng.range(10_000, 100_000)
                    } else {
                        rng.exp(*think_mean) as u64
                    };
                    Some(Transfer {
                        dir: 0,
                        bytes: request_bytes(rng) + extra,
                        think,
                        not_before: 0,
                    })
                } else {
                    *left -= 1;
                    Some(Transfer {
                        dir: 1,
                        bytes: (rng.lognormal_median(*resp_median, *resp_sigma) as u64)
                            .clamp(200, 2_000_000_000),
                        think: server_think(rng),
                        not_before: 0,
                    })
                }
            }
            App::Video {
                left,
                chunk,
                period,
                next_req,
                stage,
            } => {
                let s = *stage;
                *stage += 1;
                if s < 2 {
                    return App::tls_stage(s, quic, rng);
                }
                if *left == 0 {
                    return None;
                }
                if s % 2 == 0 {
                    if *next_req == 0 {
                        *next_req = t_end;
                    }
                    let nb = *next_req;
                    *next_req += *period;
                    Some(Transfer {
                        dir: 0,
                        bytes: request_bytes(rng),
                        think: rng.range(10_000, 500_000),
                        not_before: nb,
                    })
                } else {
                    *left -= 1;
                    // Segment sizes vary ±20 % around bitrate × duration (VBR encoding).
                    let b = (*chunk as f64 * rng.uniform(0.8, 1.2)) as u64;
                    Some(Transfer {
                        dir: 1,
                        bytes: b.max(1_000),
                        think: server_think(rng),
                        not_before: 0,
                    })
                }
            }
            App::Rpc {
                tls,
                req,
                resp,
                stage,
            } => {
                let s = *stage;
                *stage += 1;
                let hs = if *tls || quic { 2 } else { 0 };
                if s < hs {
                    return App::tls_stage(s, quic, rng);
                }
                match s - hs {
                    0 => Some(Transfer {
                        dir: 0,
                        bytes: (*req).max(1),
                        think: rng.range(5_000, 50_000),
                        not_before: 0,
                    }),
                    1 if *resp > 0 => Some(Transfer {
                        dir: 1,
                        bytes: *resp,
                        think: rng.range(5_000, 100_000),
                        not_before: 0,
                    }),
                    _ => None,
                }
            }
            App::Keepalive {
                left,
                interval_mean,
                stage,
            } => {
                let s = *stage;
                *stage += 1;
                if s < 2 {
                    return App::tls_stage(s, quic, rng);
                }
                if *left == 0 {
                    return None;
                }
                *left -= 1;
                Some(Transfer {
                    dir: if rng.chance(0.5) { 0 } else { 1 },
                    bytes: rng.range(60, 600),
                    think: rng.exp(*interval_mean) as u64,
                    not_before: 0,
                })
            }
        }
    }
}
