//! Loopback ports for listeners that something other than Gauntlet binds (Envoy's
//! listeners, a service's port): Gauntlet must name the port before the owner binds it.
//!
//! Binding port 0 and releasing it hands back a port from the kernel's ephemeral range,
//! the same range every outgoing connection (the load generator's thousands among them)
//! draws its local port from, so under load the port is often taken again before Envoy
//! binds it. Ports are therefore picked below the ephemeral range, where no outgoing
//! connection lands, walking from a random start so that two Gauntlets on one machine
//! rarely meet, and checked free by a bind before they are handed out.

use std::net::{Ipv4Addr, SocketAddr, TcpListener};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::OnceLock;

/// How many ports below the ephemeral range are used.
const SPAN: u16 = 10_000;
/// The lowest port ever used (above the well-known and common service ports).
const FLOOR: u16 = 10_000;
/// How many candidates are tried before falling back to the kernel's choice.
const ATTEMPTS: usize = 256;

/// The next candidate's offset in the range; starts at a random place per process.
static NEXT: OnceLock<AtomicUsize> = OnceLock::new();

/// A free port on 127.0.0.1 that no outgoing connection will take in the meantime.
pub(super) fn free_loopback_port() -> std::io::Result<SocketAddr> {
    let Some((low, len)) = range(ephemeral_low()) else {
        return kernel_choice();
    };
    let next = NEXT.get_or_init(|| AtomicUsize::new(rand::random::<u16>() as usize));
    for _ in 0..ATTEMPTS {
        let offset = next.fetch_add(1, Ordering::Relaxed) % usize::from(len);
        // `offset < len <= SPAN`, so the sum stays below the ephemeral range's start.
        let port = low + u16::try_from(offset).unwrap_or(0);
        let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
        if TcpListener::bind(addr).is_ok() {
            return Ok(addr);
        }
    }
    kernel_choice()
}

/// The ports to pick from: `(first, count)` just below the ephemeral range, or `None`
/// when that range starts too low to leave room.
fn range(ephemeral_low: Option<u16>) -> Option<(u16, u16)> {
    let top = ephemeral_low?;
    let low = top.saturating_sub(SPAN).max(FLOOR);
    (top > low).then(|| (low, top - low))
}

/// The first port of the kernel's ephemeral range (Linux), if it can be read.
fn ephemeral_low() -> Option<u16> {
    let text = std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range").ok()?;
    text.split_whitespace().next()?.parse().ok()
}

fn kernel_choice() -> std::io::Result<SocketAddr> {
    TcpListener::bind((Ipv4Addr::LOCALHOST, 0))?.local_addr()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_range_sits_below_the_ephemeral_one() {
        assert_eq!(range(Some(32768)), Some((22768, 10_000)));
        assert_eq!(range(Some(15000)), Some((10_000, 5000)));
        assert_eq!(range(Some(9000)), None);
        assert_eq!(range(None), None);
    }

    #[test]
    fn ports_handed_out_are_free_distinct_and_outside_the_ephemeral_range() {
        let low = ephemeral_low();
        let ports: Vec<u16> = (0..20)
            .map(|_| free_loopback_port().expect("a free port").port())
            .collect();
        let mut unique = ports.clone();
        unique.sort_unstable();
        unique.dedup();
        assert_eq!(unique.len(), ports.len(), "{ports:?}");
        if let Some((first, len)) = range(low) {
            assert!(
                ports.iter().all(|p| (first..first + len).contains(p)),
                "{ports:?} outside {first}..{}",
                first + len
            );
        }
    }
}
