//! Splits a gate into tokens, each with its 1-based column (in characters).

use super::GateSyntaxError;

/// A comparison operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    Lt,
    Le,
    Gt,
    Ge,
    Eq,
    Ne,
}

impl Op {
    /// The operator as written.
    pub fn as_str(self) -> &'static str {
        match self {
            Op::Lt => "<",
            Op::Le => "<=",
            Op::Gt => ">",
            Op::Ge => ">=",
            Op::Eq => "==",
            Op::Ne => "!=",
        }
    }

    /// Whether `measured <op> threshold` holds; never for NaN.
    pub fn holds(self, measured: f64, threshold: f64) -> bool {
        match self {
            Op::Lt => measured < threshold,
            Op::Le => measured <= threshold,
            Op::Gt => measured > threshold,
            Op::Ge => measured >= threshold,
            Op::Eq => measured == threshold,
            Op::Ne => !measured.is_nan() && !threshold.is_nan() && measured != threshold,
        }
    }
}

/// What a token is.
#[derive(Debug, Clone, PartialEq)]
pub enum Tok {
    /// A metric name, keyword or event label: anything up to a space or punctuation.
    Word(String),
    /// Starts with a digit (or `-`/`.` and a digit): `50ms`, `1.5s`, `0.1%`, `99%`, `1000`.
    Number(String),
    Op(Op),
    LBracket,
    RBracket,
    Comma,
    Plus,
}

/// A token and where it starts.
#[derive(Debug, Clone, PartialEq)]
pub struct Token {
    pub tok: Tok,
    /// 1-based column of its first character.
    pub col: usize,
}

/// Characters that end a word (besides white space).
fn is_punct(c: char) -> bool {
    matches!(c, '<' | '>' | '=' | '!' | '[' | ']' | ',' | '+')
}

/// Tokenizes a whole gate.
pub fn lex(text: &str) -> Result<Vec<Token>, GateSyntaxError> {
    let chars: Vec<char> = text.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        let col = i + 1;
        let next = chars.get(i + 1).copied();
        if c.is_whitespace() {
            i += 1;
            continue;
        }
        let (tok, len) = match c {
            '<' | '>' | '=' | '!' => operator(c, next, col)?,
            '[' => (Tok::LBracket, 1),
            ']' => (Tok::RBracket, 1),
            ',' => (Tok::Comma, 1),
            '+' => (Tok::Plus, 1),
            _ => {
                let starts_number = c.is_ascii_digit()
                    || (matches!(c, '-' | '.') && next.is_some_and(|n| n.is_ascii_digit()));
                let len = chars[i..]
                    .iter()
                    .skip(1)
                    .take_while(|&&ch| {
                        if starts_number {
                            ch.is_alphanumeric() || matches!(ch, '.' | '%' | 'µ')
                        } else {
                            !ch.is_whitespace() && !is_punct(ch)
                        }
                    })
                    .count()
                    + 1;
                let s: String = chars[i..i + len].iter().collect();
                if starts_number {
                    (Tok::Number(s), len)
                } else {
                    (Tok::Word(s), len)
                }
            }
        };
        out.push(Token { tok, col });
        i += len;
    }
    Ok(out)
}

fn operator(c: char, next: Option<char>, col: usize) -> Result<(Tok, usize), GateSyntaxError> {
    let op = match (c, next) {
        ('<', Some('=')) => (Op::Le, 2),
        ('>', Some('=')) => (Op::Ge, 2),
        ('=', Some('=')) => (Op::Eq, 2),
        ('!', Some('=')) => (Op::Ne, 2),
        ('<', _) => (Op::Lt, 1),
        ('>', _) => (Op::Gt, 1),
        ('=', Some('<')) | ('=', Some('>')) => {
            return Err(GateSyntaxError {
                column: col,
                message: format!("`={}` is not an operator", next.unwrap_or(' ')),
                hint: format!("write `{}=`", next.unwrap_or(' ')),
            })
        }
        ('=', _) => {
            return Err(GateSyntaxError {
                column: col,
                message: "`=` is not an operator".into(),
                hint: "write `==` to compare for equality".into(),
            })
        }
        _ => {
            return Err(GateSyntaxError {
                column: col,
                message: "`!` is not an operator".into(),
                hint: "write `!=` for not equal".into(),
            })
        }
    };
    Ok((Tok::Op(op.0), op.1))
}
