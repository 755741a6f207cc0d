//! `/proc/interrupts`: which irq chip delivers each interrupt.

use std::collections::HashMap;

/// One numbered interrupt line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InterruptLine {
    /// The Linux irq number (the line's `N:` label).
    pub irq: u32,
    /// The chip column, e.g. `IR-PCI-MSIX-0000:00:03.0`, `PCI-MSI`, `ITS-MSI`, `XIVE-IRQ`.
    pub chip: String,
    /// What follows the chip: hwirq, trigger, action names.
    pub rest: String,
}

/// Lines of `/proc/interrupts`, keyed by irq number.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Interrupts {
    /// The numbered lines, in file order (`NMI`, `LOC` and other named rows are left out).
    pub lines: Vec<InterruptLine>,
    by_irq: HashMap<u32, usize>,
    /// MSI lines whose chip names the function (`PCI-MSIX-0000:00:03.0`), by address.
    by_device: HashMap<String, Vec<usize>>,
}

impl Interrupts {
    /// Parses any text; lines that are not `N: counts... chip rest` are skipped.
    pub fn parse(text: &str) -> Self {
        let mut lines_iter = text.lines();
        let cpus = lines_iter.next().map_or(0, |h| h.split_whitespace().count());
        let mut lines = Vec::new();
        for line in lines_iter.take(1 << 20) {
            let Some((irq, tail)) = line.split_once(':') else { continue };
            let Ok(irq) = irq.trim().parse::<u32>() else { continue };
            let mut tokens = tail.split_whitespace().peekable();
            let mut counts = 0;
            while counts < cpus && tokens.peek().is_some_and(|t| t.bytes().all(|c| c.is_ascii_digit())) {
                tokens.next();
                counts += 1;
            }
            let Some(chip) = tokens.next() else { continue };
            let rest = tokens.collect::<Vec<_>>().join(" ");
            lines.push(InterruptLine { irq, chip: chip.to_string(), rest });
        }
        let by_irq = lines.iter().enumerate().map(|(i, l)| (l.irq, i)).collect();
        let mut by_device: HashMap<String, Vec<usize>> = HashMap::new();
        for (i, l) in lines.iter().enumerate().filter(|(_, l)| is_msi_chip(&l.chip)) {
            let tail = l.chip.len().checked_sub(12).and_then(|at| l.chip.get(at..));
            if let Some(addr) = tail.filter(|a| crate::pci::parse_address(a).is_some()) {
                by_device.entry(addr.to_string()).or_default().push(i);
            }
        }
        Interrupts { lines, by_irq, by_device }
    }

    /// MSI lines whose chip names the function at `address` (kernels since 6.2 do).
    pub fn lines_of_device(&self, address: &str) -> impl Iterator<Item = &InterruptLine> {
        self.by_device.get(address).into_iter().flatten().map(|&i| &self.lines[i])
    }

    /// The line of Linux irq `irq`; `None` when the file has no such line.
    pub fn get(&self, irq: u32) -> Option<&InterruptLine> {
        self.by_irq.get(&irq).map(|&i| &self.lines[i])
    }

    /// Lines whose chip delivers PCI MSI or MSI-X (any controller, remapped or not).
    pub fn msi_lines(&self) -> impl Iterator<Item = &InterruptLine> {
        self.lines.iter().filter(|l| is_msi_chip(&l.chip))
    }
}

/// Chip names of MSI domains across kernels: `PCI-MSI`, `PCI-MSIX-<bdf>`, `IR-PCI-MSI`,
/// `ITS-MSI`, `ITS-PCI-MSIX-<bdf>`, `GICv2m-PCI-MSIX-<bdf>`, `MSI`, ...
pub fn is_msi_chip(chip: &str) -> bool {
    chip.contains("MSI")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_chips_across_formats() {
        let text = "           CPU0       CPU1\n  \
            0:         45          0   IO-APIC   2-edge      timer\n \
            28:          0          1 PCI-MSIX-0000:00:01.0   0-edge      virtio0-config\n \
            40:       1234          0  IR-PCI-MSI 512000-edge      ahci[0000:00:1f.2]\n \
            50:          3          0   ITS-MSI 16384 Edge      virtio0-config\n\
            NMI:          0          0   Non-maskable interrupts\n";
        let i = Interrupts::parse(text);
        assert_eq!(i.get(28).unwrap().chip, "PCI-MSIX-0000:00:01.0");
        assert_eq!(i.get(40).unwrap().chip, "IR-PCI-MSI");
        assert_eq!(i.get(50).unwrap().rest, "16384 Edge virtio0-config");
        assert_eq!(i.msi_lines().count(), 3);
        assert_eq!(i.lines_of_device("0000:00:01.0").map(|l| l.irq).collect::<Vec<_>>(), vec![28]);
        assert!(Interrupts::parse("").lines.is_empty());
        assert!(Interrupts::parse("x\n:\n1:\n").lines.is_empty());
    }
}
