//! A variable's value against its type and rules. The one place that decides whether a
//! value is acceptable; create, PATCH and imports all come through here.

use garrison_proto::{TemplateVariable, VariableType};
use regex::Regex;

/// A variable with its rule regex compiled once.
#[derive(Debug, Clone)]
pub struct CompiledVariable {
    pub var: TemplateVariable,
    pub regex: Option<Regex>,
}

impl CompiledVariable {
    pub fn new(var: TemplateVariable) -> Result<CompiledVariable, String> {
        let regex = match &var.rules.regex {
            // Anchored: the whole value must match, whatever the template wrote.
            Some(r) => Some(
                Regex::new(&format!("^(?:{r})$"))
                    .map_err(|e| format!("variable {}: regex does not compile: {e}", var.key))?,
            ),
            None => None,
        };
        Ok(CompiledVariable { var, regex })
    }

    /// `Err(message)` says what is wrong, in words a user can act on.
    pub fn check(&self, value: &str) -> Result<(), String> {
        let v = &self.var;
        let r = &v.rules;
        if value.chars().any(char::is_control) {
            return Err("must be one line without control characters".into());
        }
        if value.is_empty() {
            return if r.required {
                Err("is required".into())
            } else {
                Ok(())
            };
        }
        match v.kind {
            VariableType::Integer => {
                let n: i64 = value
                    .parse()
                    .map_err(|_| "must be a whole number".to_owned())?;
                if let Some(min) = r.min
                    && n < min
                {
                    return Err(format!("must be at least {min}"));
                }
                if let Some(max) = r.max
                    && n > max
                {
                    return Err(format!("must be at most {max}"));
                }
            }
            VariableType::Boolean => {
                if !matches!(value, "true" | "false" | "1" | "0") {
                    return Err("must be true or false".into());
                }
            }
            VariableType::Enum | VariableType::String | VariableType::Secret => {}
        }
        let chars = value.chars().count() as u64;
        if let Some(min) = r.min_length
            && chars < u64::from(min)
        {
            return Err(format!("must be at least {min} characters"));
        }
        if let Some(max) = r.max_length
            && chars > u64::from(max)
        {
            return Err(format!("must be at most {max} characters"));
        }
        if !r.one_of.is_empty() && !r.one_of.iter().any(|o| o == value) {
            return Err(format!("must be one of {}", r.one_of.join(", ")));
        }
        if let Some(re) = &self.regex
            && !re.is_match(value)
        {
            return Err(format!(
                "must match {}",
                r.regex.as_deref().unwrap_or_default()
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use garrison_proto::Rules;

    fn var(kind: VariableType, rules: Rules) -> CompiledVariable {
        CompiledVariable::new(TemplateVariable {
            key: "v".into(),
            env: None,
            name: "V".into(),
            description: String::new(),
            kind,
            default: String::new(),
            user_viewable: true,
            user_editable: true,
            rules,
        })
        .unwrap()
    }

    #[test]
    fn each_rule() {
        let req = var(
            VariableType::String,
            Rules {
                required: true,
                ..Rules::default()
            },
        );
        assert_eq!(req.check("").unwrap_err(), "is required");
        req.check("x").unwrap();
        let opt = var(VariableType::Integer, Rules::default());
        opt.check("").unwrap();
        let int = var(
            VariableType::Integer,
            Rules {
                min: Some(1),
                max: Some(10),
                ..Rules::default()
            },
        );
        assert_eq!(int.check("abc").unwrap_err(), "must be a whole number");
        assert_eq!(int.check("0").unwrap_err(), "must be at least 1");
        assert_eq!(int.check("11").unwrap_err(), "must be at most 10");
        int.check("10").unwrap();
        let b = var(VariableType::Boolean, Rules::default());
        b.check("true").unwrap();
        b.check("0").unwrap();
        assert!(b.check("yes").is_err());
        let len = var(
            VariableType::String,
            Rules {
                min_length: Some(2),
                max_length: Some(3),
                ..Rules::default()
            },
        );
        assert!(len.check("a").is_err());
        assert!(len.check("abcd").is_err());
        len.check("äöü").unwrap();
        let e = var(
            VariableType::Enum,
            Rules {
                one_of: vec!["a".into(), "b".into()],
                ..Rules::default()
            },
        );
        assert_eq!(e.check("c").unwrap_err(), "must be one of a, b");
        e.check("b").unwrap();
        let re = var(
            VariableType::String,
            Rules {
                regex: Some("[a-z]+|[0-9]+".into()),
                ..Rules::default()
            },
        );
        re.check("abc").unwrap();
        // anchored around the whole alternation
        assert!(re.check("abc1").is_err());
        assert!(re.check("x\ny").is_err());
        assert!(
            CompiledVariable::new(TemplateVariable {
                rules: Rules {
                    regex: Some("(".into()),
                    ..Rules::default()
                },
                ..re.var.clone()
            })
            .is_err()
        );
    }
}
