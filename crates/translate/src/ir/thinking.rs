//! Reasoning effort levels and their mapping to and from token budgets.
//!
//! Budgets per effort: low 1,024 (Anthropic's minimum), medium 8,192, high 24,576 (Gemini 2.5
//! Flash's maximum). A budget maps back to the effort whose range holds it: under 4,096 is low,
//! under 16,384 medium, anything larger high.

/// A named reasoning effort.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Effort {
    /// Little reasoning.
    Low,
    /// Moderate reasoning.
    Medium,
    /// Deep reasoning.
    High,
}

impl Effort {
    /// Parses an effort name; `minimal` counts as low and `xhigh`/`max` as high.
    pub fn parse(name: &str) -> Option<Effort> {
        match name {
            "minimal" | "low" => Some(Effort::Low),
            "medium" => Some(Effort::Medium),
            "high" | "xhigh" | "max" => Some(Effort::High),
            _ => None,
        }
    }

    /// The wire name (`low`, `medium`, `high`).
    pub fn as_str(self) -> &'static str {
        match self {
            Effort::Low => "low",
            Effort::Medium => "medium",
            Effort::High => "high",
        }
    }

    /// The token budget this effort stands for.
    pub fn budget(self) -> u64 {
        match self {
            Effort::Low => 1024,
            Effort::Medium => 8192,
            Effort::High => 24576,
        }
    }

    /// The effort a token budget stands for.
    pub fn for_budget(budget: u64) -> Effort {
        match budget {
            0..4096 => Effort::Low,
            4096..16384 => Effort::Medium,
            _ => Effort::High,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn effort_budget_round_trips() {
        for effort in [Effort::Low, Effort::Medium, Effort::High] {
            assert_eq!(Effort::for_budget(effort.budget()), effort);
            assert_eq!(Effort::parse(effort.as_str()), Some(effort));
        }
    }

    #[test]
    fn budgets_fall_in_ranges() {
        assert_eq!(Effort::for_budget(0), Effort::Low);
        assert_eq!(Effort::for_budget(4095), Effort::Low);
        assert_eq!(Effort::for_budget(4096), Effort::Medium);
        assert_eq!(Effort::for_budget(16383), Effort::Medium);
        assert_eq!(Effort::for_budget(16384), Effort::High);
        assert_eq!(Effort::for_budget(u64::MAX), Effort::High);
        assert_eq!(Effort::parse("minimal"), Some(Effort::Low));
        assert_eq!(Effort::parse("none"), None);
    }
}
