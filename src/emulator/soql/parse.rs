//! The SOQL lexer and recursive-descent parser for the emulator's subset.
//!
//! Owns turning query text into a [`Query`] and the syntax errors Salesforce answers with
//! `MALFORMED_QUERY`, worded as Salesforce words them (`unexpected token: 'GROUP'`). It must not
//! look at the schema: unknown objects and fields are the executor's errors (`INVALID_TYPE`,
//! `INVALID_FIELD`), found after parsing.
//!
//! Features outside the subset (child subqueries, `TYPEOF`, `FIELDS()`, `GROUP BY`, `HAVING`,
//! `WITH`, `FOR VIEW/UPDATE`, `USING SCOPE`, date-function literals, `INCLUDES`/`EXCLUDES`,
//! bind variables) are rejected with `unexpected token: '<token>'` at the first token the
//! subset has no rule for, which is what a Salesforce parser without the feature reports.
//!
//! String literals have their escapes resolved, except `\_` and `\%`: they stay as the two
//! characters backslash + `_` / `%` in every string, because in a `LIKE` pattern they mean a
//! literal underscore / percent and the pattern matcher must tell them from the wildcards.
//! A consequence: `'\\_'` (an escaped backslash, then `_`) and `'\_'` parse to the same string.

use chrono::{DateTime, NaiveDate, NaiveTime, TimeDelta, Utc};

use super::ast::{
    AggregateFunc, CompareOp, Condition, FieldPath, Ident, Literal, OrderItem, Query, SelectItem,
};

/// The longest statement Salesforce accepts, in characters.
pub const MAX_QUERY_CHARS: usize = 100_000;

/// How deeply conditions may nest (parentheses and `NOT`). Salesforce gives up on such queries
/// too (`QUERY_TOO_COMPLICATED`); the limit keeps the recursive descent off the stack's end.
const MAX_NESTING: usize = 100;

/// Words that never start a field path and are never an alias. A word in this list can still be
/// the first segment of a relationship path (`Group.Name` on `GroupMember`), because the dot
/// that follows makes it unambiguous.
const RESERVED: &[&str] = &[
    "AND", "ASC", "BY", "DESC", "EXCLUDES", "FALSE", "FIRST", "FOR", "FROM", "GROUP", "HAVING",
    "IN", "INCLUDES", "LAST", "LIKE", "LIMIT", "NOT", "NULL", "NULLS", "OFFSET", "OR", "ORDER",
    "SELECT", "TRUE", "TYPEOF", "USING", "WHERE", "WITH",
];

/// Reserved words that are nonetheless names of standard objects (`FROM Group`, `FROM Order`).
const OBJECT_NAMES_THAT_ARE_KEYWORDS: &[&str] = &["GROUP", "ORDER"];

/// Whether `word` is reserved (case-insensitively) and so cannot be a field or an alias.
pub(crate) fn is_reserved(word: &str) -> bool {
    RESERVED.iter().any(|k| k.eq_ignore_ascii_case(word))
}

/// A SOQL syntax error; Salesforce answers these with HTTP 400 `MALFORMED_QUERY`.
///
/// `Display` shows the detail and the byte offset, for logs. The text Salesforce puts in the
/// error body is [`SoqlSyntaxError::salesforce_message`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{detail} (at byte {pos})")]
pub struct SoqlSyntaxError {
    /// Byte offset of the offending token in the query text, or the text's length when the
    /// query ended too early.
    pub pos: usize,
    /// What went wrong, in Salesforce's wording (`unexpected token: 'FROM'`).
    pub detail: String,
}

impl SoqlSyntaxError {
    fn new(pos: usize, detail: impl Into<String>) -> Self {
        SoqlSyntaxError {
            pos,
            detail: detail.into(),
        }
    }

    /// The message Salesforce puts in the error body for this error: the query, a caret under
    /// the offending token, `ERROR at Row:R:Column:C` and the detail (see
    /// [`super::salesforce_message`]).
    pub fn salesforce_message(&self, query: &str) -> String {
        super::salesforce_message(query, self.pos, &self.detail)
    }
}

/// Parses one SOQL statement of the emulator's subset.
///
/// Keywords are case-insensitive; identifiers keep the spelling they were written with.
/// Never panics, whatever the input.
pub fn parse(text: &str) -> Result<Query, SoqlSyntaxError> {
    // `len()` counts bytes, which is never less than the number of characters.
    if text.len() > MAX_QUERY_CHARS {
        let chars = text.chars().count();
        if chars > MAX_QUERY_CHARS {
            return Err(SoqlSyntaxError::new(
                0,
                format!("query too long: {chars} characters (the limit is {MAX_QUERY_CHARS})"),
            ));
        }
    }
    let mut parser = Parser {
        text,
        tokens: lex(text),
        next: 0,
        in_semi_join: false,
        nesting: 0,
    };
    let query = parser.query()?;
    match parser.peek().kind {
        Kind::Eof => Ok(query),
        _ => Err(parser.unexpected(0)),
    }
}

// ---------------------------------------------------------------------------------------------
// Lexer
// ---------------------------------------------------------------------------------------------

/// What a token is. Keywords are `Ident`s: whether a word is a keyword depends on where it is.
#[derive(Debug, Clone, PartialEq)]
enum Kind {
    Ident,
    /// `-?[0-9]+(\.[0-9]+)?`, kept as written.
    Number,
    /// A quoted string, escapes resolved.
    Str(String),
    Date(NaiveDate),
    DateTime(DateTime<Utc>),
    LParen,
    RParen,
    Comma,
    Dot,
    /// Only ever an error (bind variables, `LAST_N_DAYS:n`), but a token of its own so that the
    /// error names it.
    Colon,
    Op(CompareOp),
    Eof,
    /// Text the lexer cannot read; the parser reports `detail` when it reaches this token.
    Invalid(String),
}

#[derive(Debug, Clone)]
struct Token<'a> {
    kind: Kind,
    /// The token as written (empty for `Eof` and `Invalid`).
    text: &'a str,
    /// Byte offset of the token (of the offending character for `Invalid`).
    pos: usize,
}

/// Splits `text` into tokens, ending with `Eof` or at the first `Invalid` token. The lexer
/// runs ahead of the parser, but its errors are reported only when the parser reaches them,
/// so that the first error in the text is the one reported.
fn lex(text: &str) -> Vec<Token<'_>> {
    let mut lexer = Lexer { text, pos: 0 };
    let mut tokens = Vec::new();
    loop {
        let token = lexer.next_token();
        let last = matches!(token.kind, Kind::Eof | Kind::Invalid(_));
        tokens.push(token);
        if last {
            return tokens;
        }
    }
}

struct Lexer<'a> {
    text: &'a str,
    pos: usize,
}

impl<'a> Lexer<'a> {
    fn byte(&self, at: usize) -> Option<u8> {
        self.text.as_bytes().get(at).copied()
    }

    /// The first offset from `from` whose byte does not satisfy `accept`.
    fn scan(&self, from: usize, accept: impl Fn(u8) -> bool) -> usize {
        let mut at = from;
        while self.byte(at).is_some_and(&accept) {
            at += 1;
        }
        at
    }

    fn invalid(&mut self, pos: usize, detail: String) -> Token<'a> {
        self.pos = self.text.len();
        Token {
            kind: Kind::Invalid(detail),
            text: "",
            pos,
        }
    }

    fn next_token(&mut self) -> Token<'a> {
        self.pos = self.scan(self.pos, |b| b.is_ascii_whitespace());
        let start = self.pos;
        let Some(c) = self.text.get(start..).and_then(|rest| rest.chars().next()) else {
            return Token {
                kind: Kind::Eof,
                text: "",
                pos: start,
            };
        };
        let next = self.byte(start + 1);
        let (kind, end) = match c {
            'a'..='z' | 'A'..='Z' => (
                Kind::Ident,
                self.scan(start + 1, |b| b.is_ascii_alphanumeric() || b == b'_'),
            ),
            '0'..='9' => self.number_or_date(start),
            '-' if next.is_some_and(|b| b.is_ascii_digit()) => (Kind::Number, self.number(start)),
            '\'' => return self.string(start),
            '(' => (Kind::LParen, start + 1),
            ')' => (Kind::RParen, start + 1),
            ',' => (Kind::Comma, start + 1),
            '.' => (Kind::Dot, start + 1),
            ':' => (Kind::Colon, start + 1),
            '=' => (Kind::Op(CompareOp::Eq), start + 1),
            '!' if next == Some(b'=') => (Kind::Op(CompareOp::Ne), start + 2),
            '<' => match next {
                Some(b'=') => (Kind::Op(CompareOp::Le), start + 2),
                Some(b'>') => (Kind::Op(CompareOp::Ne), start + 2),
                _ => (Kind::Op(CompareOp::Lt), start + 1),
            },
            '>' => match next {
                Some(b'=') => (Kind::Op(CompareOp::Ge), start + 2),
                _ => (Kind::Op(CompareOp::Gt), start + 1),
            },
            _ => {
                let (row, column) = super::row_and_column(self.text, start);
                return self.invalid(
                    start,
                    format!(
                        "line {row}:{} no viable alternative at character '{c}'",
                        column - 1
                    ),
                );
            }
        };
        self.pos = end;
        Token {
            kind,
            // Every branch above ends on an ASCII byte, so this slice is on char boundaries.
            text: self.text.get(start..end).unwrap_or(""),
            pos: start,
        }
    }

    /// The end of a number starting at `start` (an optional `-`, digits, optional decimals).
    fn number(&self, start: usize) -> usize {
        let integer_start = if self.byte(start) == Some(b'-') {
            start + 1
        } else {
            start
        };
        let end = self.scan(integer_start, |b| b.is_ascii_digit());
        if self.byte(end) == Some(b'.') && self.byte(end + 1).is_some_and(|b| b.is_ascii_digit()) {
            self.scan(end + 1, |b| b.is_ascii_digit())
        } else {
            end
        }
    }

    /// A number, or a date / datetime literal when four digits are followed by `-`. The whole
    /// run of date-like characters is one token, so that a bad literal is reported whole.
    fn number_or_date(&self, start: usize) -> (Kind, usize) {
        let digits_end = self.scan(start, |b| b.is_ascii_digit());
        if digits_end - start != 4 || self.byte(digits_end) != Some(b'-') {
            return (Kind::Number, self.number(start));
        }
        let end = self.scan(start, |b| {
            b.is_ascii_alphanumeric() || matches!(b, b':' | b'.' | b'+' | b'-')
        });
        let literal = self.text.get(start..end).unwrap_or("");
        let kind = if literal.contains('T') {
            match parse_datetime(literal) {
                Some(datetime) => Kind::DateTime(datetime),
                None => Kind::Invalid(format!("Invalid datetime: {literal}")),
            }
        } else {
            match parse_date(literal) {
                Some(date) => Kind::Date(date),
                None => Kind::Invalid(format!("Invalid date: {literal}")),
            }
        };
        (kind, end)
    }

    /// A single-quoted string starting at `start`, with Salesforce's escape sequences.
    fn string(&mut self, start: usize) -> Token<'a> {
        let body_start = start + 1;
        let body = self.text.get(body_start..).unwrap_or("");
        let mut value = String::new();
        let mut chars = body.char_indices();
        let end = loop {
            let Some((offset, c)) = chars.next() else {
                return self.invalid(start, "unterminated string".to_string());
            };
            match c {
                '\'' => break body_start + offset + 1,
                '\\' => {
                    let Some((_, escaped)) = chars.next() else {
                        return self.invalid(start, "unterminated string".to_string());
                    };
                    match escaped {
                        '\'' | '"' | '\\' => value.push(escaped),
                        'n' | 'N' => value.push('\n'),
                        'r' | 'R' => value.push('\r'),
                        't' | 'T' => value.push('\t'),
                        'b' | 'B' => value.push('\u{8}'),
                        'f' | 'F' => value.push('\u{c}'),
                        // Kept escaped: see the module comment.
                        '_' | '%' => {
                            value.push('\\');
                            value.push(escaped);
                        }
                        'u' => {
                            let hex: String = chars.clone().take(4).map(|(_, h)| h).collect();
                            match unicode_escape(&hex) {
                                Some(decoded) => {
                                    value.push(decoded);
                                    for _ in 0..4 {
                                        chars.next();
                                    }
                                }
                                None => {
                                    return self.invalid(
                                        body_start + offset,
                                        format!(
                                            "Illegal character sequence '\\u{hex}' in string literal"
                                        ),
                                    );
                                }
                            }
                        }
                        other => {
                            return self.invalid(
                                body_start + offset,
                                format!("Illegal character sequence '\\{other}' in string literal"),
                            );
                        }
                    }
                }
                _ => value.push(c),
            }
        };
        self.pos = end;
        Token {
            kind: Kind::Str(value),
            text: self.text.get(start..end).unwrap_or(""),
            pos: start,
        }
    }
}

/// The character of a `\uXXXX` escape, given its four hex digits (not a lone surrogate).
fn unicode_escape(hex: &str) -> Option<char> {
    if hex.len() != 4 || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    u32::from_str_radix(hex, 16).ok().and_then(char::from_u32)
}

/// `YYYY-MM-DD`, a real calendar date.
fn parse_date(text: &str) -> Option<NaiveDate> {
    let b = text.as_bytes();
    if b.len() != 10 || b[4] != b'-' || b[7] != b'-' {
        return None;
    }
    NaiveDate::from_ymd_opt(
        digits(text, 0, 4)? as i32,
        digits(text, 5, 7)?,
        digits(text, 8, 10)?,
    )
}

/// `YYYY-MM-DDThh:mm:ss(.sss)?(Z|[+-]hh:mm|[+-]hhmm)`, converted to UTC.
fn parse_datetime(text: &str) -> Option<DateTime<Utc>> {
    let date = parse_date(text.get(..10)?)?;
    let b = text.as_bytes();
    if b.get(10) != Some(&b'T') || b.get(13) != Some(&b':') || b.get(16) != Some(&b':') {
        return None;
    }
    let (hour, minute, second) = (
        digits(text, 11, 13)?,
        digits(text, 14, 16)?,
        digits(text, 17, 19)?,
    );
    let mut rest = text.get(19..)?;
    let mut millis = 0;
    if let Some(fraction) = rest.strip_prefix('.') {
        let len = fraction.bytes().take_while(u8::is_ascii_digit).count();
        if !(1..=3).contains(&len) {
            return None;
        }
        // `.5` is half a second: pad to three digits.
        millis = digits(fraction, 0, len)? * 10u32.pow(3 - len as u32);
        rest = fraction.get(len..)?;
    }
    let offset_seconds: i64 = match rest.as_bytes() {
        [b'Z'] => 0,
        [sign @ (b'+' | b'-'), ..] => {
            let zone = rest.get(1..)?;
            let (hours, minutes) = match zone.len() {
                5 if zone.as_bytes()[2] == b':' => (digits(zone, 0, 2)?, digits(zone, 3, 5)?),
                4 => (digits(zone, 0, 2)?, digits(zone, 2, 4)?),
                _ => return None,
            };
            if hours > 23 || minutes > 59 {
                return None;
            }
            let seconds = i64::from(hours * 3600 + minutes * 60);
            if *sign == b'-' { -seconds } else { seconds }
        }
        _ => return None,
    };
    let time = NaiveTime::from_hms_milli_opt(hour, minute, second, millis)?;
    let utc = date
        .and_time(time)
        .checked_sub_signed(TimeDelta::seconds(offset_seconds))?
        .and_utc();
    // The printer writes four-digit years; an offset must not push the instant out of them.
    (0..=9999)
        .contains(&chrono::Datelike::year(&utc))
        .then_some(utc)
}

/// The ASCII digits `text[from..to]` as a number, if they are all digits.
fn digits(text: &str, from: usize, to: usize) -> Option<u32> {
    let part = text.get(from..to)?;
    if part.is_empty() || !part.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    part.parse().ok()
}

// ---------------------------------------------------------------------------------------------
// Parser
// ---------------------------------------------------------------------------------------------

struct Parser<'a> {
    text: &'a str,
    /// Never empty: ends with `Eof` or `Invalid`.
    tokens: Vec<Token<'a>>,
    next: usize,
    /// Inside `IN (SELECT ...)`, where another semi-join is not allowed.
    in_semi_join: bool,
    /// Current depth of parentheses and `NOT` in conditions.
    nesting: usize,
}

impl<'a> Parser<'a> {
    /// The token `ahead` positions after the next one; the final `Eof`/`Invalid` repeats.
    fn peek_at(&self, ahead: usize) -> &Token<'a> {
        let last = self.tokens.len().saturating_sub(1);
        &self.tokens[(self.next + ahead).min(last)]
    }

    fn peek(&self) -> &Token<'a> {
        self.peek_at(0)
    }

    /// Consumes the next token. Callers only advance over a token they have matched, so the
    /// final `Eof`/`Invalid` is never passed.
    fn advance(&mut self) -> Token<'a> {
        let token = self.peek().clone();
        if self.next < self.tokens.len() {
            self.next += 1;
        }
        token
    }

    fn is_keyword_at(&self, ahead: usize, keyword: &str) -> bool {
        let token = self.peek_at(ahead);
        token.kind == Kind::Ident && token.text.eq_ignore_ascii_case(keyword)
    }

    fn is_keyword(&self, keyword: &str) -> bool {
        self.is_keyword_at(0, keyword)
    }

    /// The error for the token `ahead` positions on: `unexpected token: 'X'`, or the lexer's
    /// error if that token could not be read.
    fn unexpected(&self, ahead: usize) -> SoqlSyntaxError {
        let token = self.peek_at(ahead);
        match &token.kind {
            Kind::Invalid(detail) => SoqlSyntaxError::new(token.pos, detail.clone()),
            Kind::Eof => SoqlSyntaxError::new(self.text.len(), "unexpected token: <EOF>"),
            _ => SoqlSyntaxError::new(token.pos, format!("unexpected token: '{}'", token.text)),
        }
    }

    fn expect_keyword(&mut self, keyword: &str) -> Result<(), SoqlSyntaxError> {
        if self.is_keyword(keyword) {
            self.advance();
            Ok(())
        } else {
            Err(self.unexpected(0))
        }
    }

    fn expect(&mut self, kind: Kind) -> Result<Token<'a>, SoqlSyntaxError> {
        if self.peek().kind == kind {
            Ok(self.advance())
        } else {
            Err(self.unexpected(0))
        }
    }

    fn expect_right_paren(&mut self) -> Result<(), SoqlSyntaxError> {
        let token = self.peek();
        match &token.kind {
            Kind::RParen => {
                self.advance();
                Ok(())
            }
            Kind::Invalid(detail) => Err(SoqlSyntaxError::new(token.pos, detail.clone())),
            Kind::Eof => Err(SoqlSyntaxError::new(
                self.text.len(),
                "expecting a right parentheses, found '<EOF>'",
            )),
            _ => Err(SoqlSyntaxError::new(
                token.pos,
                format!("expecting a right parentheses, found '{}'", token.text),
            )),
        }
    }

    /// `SELECT ... FROM ... [WHERE] [ORDER BY] [LIMIT] [OFFSET]`. Inside a semi-join the select
    /// list is a single field and `OFFSET` is not allowed (Salesforce forbids it in subqueries).
    fn query(&mut self) -> Result<Query, SoqlSyntaxError> {
        self.expect_keyword("SELECT")?;
        let select = if self.in_semi_join {
            vec![SelectItem::Field(self.field_path()?)]
        } else {
            self.select_list()?
        };
        self.expect_keyword("FROM")?;
        let from = self.object_name()?;
        let where_clause = if self.is_keyword("WHERE") {
            self.advance();
            Some(self.condition()?)
        } else {
            None
        };
        let order_by = if self.is_keyword("ORDER") {
            self.advance();
            self.expect_keyword("BY")?;
            self.order_by()?
        } else {
            Vec::new()
        };
        let limit = if self.is_keyword("LIMIT") {
            self.advance();
            Some(self.non_negative_integer()?)
        } else {
            None
        };
        let offset = if !self.in_semi_join && self.is_keyword("OFFSET") {
            self.advance();
            Some(self.non_negative_integer()?)
        } else {
            None
        };
        let query = Query {
            select,
            from,
            where_clause,
            order_by,
            limit,
            offset,
        };
        check_aggregates(&query)?;
        Ok(query)
    }

    /// The select list. `COUNT()` is only recognised as the first item; after it only `FROM`
    /// may follow, and later in the list `COUNT(` needs a field, as in Salesforce's grammar.
    fn select_list(&mut self) -> Result<Vec<SelectItem>, SoqlSyntaxError> {
        if self.is_keyword("COUNT")
            && self.peek_at(1).kind == Kind::LParen
            && self.peek_at(2).kind == Kind::RParen
        {
            let pos = self.advance().pos;
            self.advance();
            self.advance();
            return Ok(vec![SelectItem::CountAll { pos }]);
        }
        let mut items = vec![self.select_item()?];
        while self.peek().kind == Kind::Comma {
            self.advance();
            items.push(self.select_item()?);
        }
        Ok(items)
    }

    fn select_item(&mut self) -> Result<SelectItem, SoqlSyntaxError> {
        if self.peek().kind == Kind::Ident && self.peek_at(1).kind == Kind::LParen {
            let func = match self.peek().text.to_ascii_uppercase().as_str() {
                "COUNT" => AggregateFunc::Count,
                "MAX" => AggregateFunc::Max,
                "MIN" => AggregateFunc::Min,
                // FIELDS(), SUM(), toLabel(), ...: not in the subset.
                _ => return Err(self.unexpected(0)),
            };
            let pos = self.advance().pos;
            self.advance();
            let field = self.field_path()?;
            self.expect_right_paren()?;
            let alias = if self.peek().kind == Kind::Ident && !is_reserved(self.peek().text) {
                Some(self.ident())
            } else {
                None
            };
            return Ok(SelectItem::Aggregate {
                func,
                field,
                alias,
                pos,
            });
        }
        Ok(SelectItem::Field(self.field_path()?))
    }

    /// Consumes the next token as an identifier (the caller has checked it is one).
    fn ident(&mut self) -> Ident {
        let token = self.advance();
        Ident {
            name: token.text.to_string(),
            pos: token.pos,
        }
    }

    fn object_name(&mut self) -> Result<Ident, SoqlSyntaxError> {
        let token = self.peek();
        let is_object = token.kind == Kind::Ident
            && (!is_reserved(token.text)
                || OBJECT_NAMES_THAT_ARE_KEYWORDS
                    .iter()
                    .any(|k| k.eq_ignore_ascii_case(token.text)));
        if is_object {
            Ok(self.ident())
        } else {
            Err(self.unexpected(0))
        }
    }

    /// Whether the next token starts a field path: a word that is not a function call and is
    /// either not reserved or followed by a dot.
    fn at_field_path(&self) -> bool {
        let token = self.peek();
        let after = &self.peek_at(1).kind;
        token.kind == Kind::Ident
            && *after != Kind::LParen
            && (!is_reserved(token.text) || *after == Kind::Dot)
    }

    /// `Name` or `Parent.Grandparent.Name`.
    fn field_path(&mut self) -> Result<FieldPath, SoqlSyntaxError> {
        if !self.at_field_path() {
            return Err(self.unexpected(0));
        }
        let mut segments = vec![self.ident()];
        while self.peek().kind == Kind::Dot {
            self.advance();
            if self.peek().kind != Kind::Ident {
                return Err(self.unexpected(0));
            }
            segments.push(self.ident());
        }
        Ok(FieldPath { segments })
    }

    /// An OR of terms or an AND of terms. Salesforce rejects `a AND b OR c` (no precedence
    /// between AND and OR), so mixing them without parentheses is an error at the second
    /// operator.
    fn condition(&mut self) -> Result<Condition, SoqlSyntaxError> {
        let first = self.term()?;
        let (joiner, other) = if self.is_keyword("AND") {
            ("AND", "OR")
        } else if self.is_keyword("OR") {
            ("OR", "AND")
        } else {
            return Ok(first);
        };
        let mut operands = vec![first];
        while self.is_keyword(joiner) {
            self.advance();
            operands.push(self.term()?);
        }
        if self.is_keyword(other) {
            return Err(self.unexpected(0));
        }
        Ok(if joiner == "AND" {
            Condition::And(operands)
        } else {
            Condition::Or(operands)
        })
    }

    fn term(&mut self) -> Result<Condition, SoqlSyntaxError> {
        if self.is_keyword("NOT") || self.peek().kind == Kind::LParen {
            if self.nesting >= MAX_NESTING {
                return Err(SoqlSyntaxError::new(
                    self.peek().pos,
                    format!(
                        "query too complicated: conditions nested more than {MAX_NESTING} levels deep"
                    ),
                ));
            }
            self.nesting += 1;
            let result = if self.advance().kind == Kind::LParen {
                self.condition()
                    .and_then(|c| self.expect_right_paren().map(|()| c))
            } else {
                self.term().map(|c| Condition::Not(Box::new(c)))
            };
            self.nesting -= 1;
            return result;
        }
        let field = self.field_path()?;
        let token = self.peek();
        match token.kind {
            Kind::Op(op) => {
                self.advance();
                let value = self.literal()?;
                Ok(Condition::Compare { field, op, value })
            }
            _ if self.is_keyword("LIKE") => {
                self.advance();
                match &self.peek().kind {
                    Kind::Str(pattern) => {
                        let pattern = pattern.clone();
                        self.advance();
                        Ok(Condition::Like { field, pattern })
                    }
                    _ => Err(self.unexpected(0)),
                }
            }
            _ if self.is_keyword("IN") => {
                self.advance();
                self.in_list(field, false)
            }
            _ if self.is_keyword("NOT") && self.is_keyword_at(1, "IN") => {
                self.advance();
                self.advance();
                self.in_list(field, true)
            }
            _ if self.is_keyword("NOT") => Err(self.unexpected(1)),
            _ => Err(self.unexpected(0)),
        }
    }

    /// After `IN`: `(literal, ...)` or `(SELECT field FROM ...)`.
    fn in_list(&mut self, field: FieldPath, negated: bool) -> Result<Condition, SoqlSyntaxError> {
        self.expect(Kind::LParen)?;
        if self.is_keyword("SELECT") {
            if self.in_semi_join {
                return Err(SoqlSyntaxError::new(
                    self.peek().pos,
                    "Nesting of semi join sub-selects is not supported",
                ));
            }
            self.in_semi_join = true;
            let query = self.query();
            self.in_semi_join = false;
            let query = query?;
            self.expect_right_paren()?;
            return Ok(Condition::SemiJoin {
                field,
                negated,
                query: Box::new(query),
            });
        }
        let mut values = vec![self.literal()?];
        while self.peek().kind == Kind::Comma {
            self.advance();
            values.push(self.literal()?);
        }
        self.expect_right_paren()?;
        Ok(Condition::In {
            field,
            negated,
            values,
        })
    }

    fn literal(&mut self) -> Result<Literal, SoqlSyntaxError> {
        let token = self.peek();
        let literal = match &token.kind {
            Kind::Ident if token.text.eq_ignore_ascii_case("null") => Literal::Null,
            Kind::Ident if token.text.eq_ignore_ascii_case("true") => Literal::Bool(true),
            Kind::Ident if token.text.eq_ignore_ascii_case("false") => Literal::Bool(false),
            Kind::Str(value) => Literal::String(value.clone()),
            Kind::Number => Literal::Number(token.text.to_string()),
            Kind::Date(date) => Literal::Date(*date),
            Kind::DateTime(datetime) => Literal::DateTime(*datetime),
            _ => return Err(self.unexpected(0)),
        };
        self.advance();
        Ok(literal)
    }

    fn order_by(&mut self) -> Result<Vec<OrderItem>, SoqlSyntaxError> {
        let mut items = Vec::new();
        loop {
            let field = self.field_path()?;
            let descending = if self.is_keyword("DESC") {
                self.advance();
                true
            } else {
                if self.is_keyword("ASC") {
                    self.advance();
                }
                false
            };
            let nulls_first = if self.is_keyword("NULLS") {
                self.advance();
                if self.is_keyword("FIRST") {
                    self.advance();
                    Some(true)
                } else if self.is_keyword("LAST") {
                    self.advance();
                    Some(false)
                } else {
                    return Err(self.unexpected(0));
                }
            } else {
                None
            };
            items.push(OrderItem {
                field,
                descending,
                nulls_first,
            });
            if self.peek().kind != Kind::Comma {
                return Ok(items);
            }
            self.advance();
        }
    }

    /// The number after `LIMIT` / `OFFSET`.
    fn non_negative_integer(&mut self) -> Result<u64, SoqlSyntaxError> {
        let token = self.peek();
        if token.kind != Kind::Number || !token.text.bytes().all(|b| b.is_ascii_digit()) {
            return Err(self.unexpected(0));
        }
        let value = token.text.parse().map_err(|_| {
            SoqlSyntaxError::new(token.pos, format!("number too large: {}", token.text))
        })?;
        self.advance();
        Ok(value)
    }
}

/// Without `GROUP BY` (not in the subset), aggregates cannot be mixed with plain fields, nor
/// ordered by a plain field. Salesforce's wording for both.
fn check_aggregates(query: &Query) -> Result<(), SoqlSyntaxError> {
    let has_aggregate = query
        .select
        .iter()
        .any(|item| matches!(item, SelectItem::Aggregate { .. }));
    if !has_aggregate {
        return Ok(());
    }
    let plain_field = query.select.iter().find_map(|item| match item {
        SelectItem::Field(path) => Some(path),
        _ => None,
    });
    if let Some(path) = plain_field {
        return Err(SoqlSyntaxError::new(
            path_pos(path),
            format!("Field must be grouped or aggregated: {path}"),
        ));
    }
    if let Some(item) = query.order_by.first() {
        return Err(SoqlSyntaxError::new(
            path_pos(&item.field),
            format!(
                "Ordered field must be grouped or aggregated: {}",
                item.field
            ),
        ));
    }
    Ok(())
}

fn path_pos(path: &FieldPath) -> usize {
    path.segments.first().map_or(0, |segment| segment.pos)
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;
    use proptest::prelude::*;

    use super::*;
    use crate::emulator::soql::test_support::without_positions;

    fn ident(name: &str, pos: usize) -> Ident {
        Ident {
            name: name.to_string(),
            pos,
        }
    }

    /// A path whose segments are at `pos`, then one past each dot.
    fn path(dotted: &str, pos: usize) -> FieldPath {
        let mut at = pos;
        FieldPath {
            segments: dotted
                .split('.')
                .map(|name| {
                    let segment = ident(name, at);
                    at += name.len() + 1;
                    segment
                })
                .collect(),
        }
    }

    /// A path with positions zeroed, for comparing against `without_positions`.
    fn p(dotted: &str) -> FieldPath {
        FieldPath {
            segments: dotted.split('.').map(|name| ident(name, 0)).collect(),
        }
    }

    fn string(value: &str) -> Literal {
        Literal::String(value.to_string())
    }

    fn number(value: &str) -> Literal {
        Literal::Number(value.to_string())
    }

    fn cmp(field: &str, op: CompareOp, value: Literal) -> Condition {
        Condition::Compare {
            field: p(field),
            op,
            value,
        }
    }

    fn parsed(text: &str) -> Query {
        match parse(text) {
            Ok(query) => without_positions(&query),
            Err(error) => panic!("{text:?} should parse, got {error}"),
        }
    }

    fn where_of(text: &str) -> Condition {
        parsed(text)
            .where_clause
            .unwrap_or_else(|| panic!("{text:?} has no WHERE"))
    }

    fn error(text: &str) -> (usize, String) {
        match parse(text) {
            Ok(query) => panic!("{text:?} should fail, parsed as {query:?}"),
            Err(error) => (error.pos, error.detail),
        }
    }

    fn unexpected(pos: usize, token: &str) -> (usize, String) {
        (pos, format!("unexpected token: '{token}'"))
    }

    // --- real-world queries --------------------------------------------------------------

    #[test]
    fn connector_user_query_parses_with_exact_positions() {
        let text = "SELECT Id, Username, Profile.UserLicense.LicenseDefinitionKey, UserRole.Name \
                    FROM User WHERE IsActive = true AND UserType IN ('Standard','PowerPartner') \
                    ORDER BY Id ASC NULLS LAST LIMIT 2000";
        let query = parse(text).expect("valid");
        let at = |needle: &str| text.find(needle).expect("needle in text");
        assert_eq!(
            query,
            Query {
                select: vec![
                    SelectItem::Field(path("Id", 7)),
                    SelectItem::Field(path("Username", 11)),
                    SelectItem::Field(path("Profile.UserLicense.LicenseDefinitionKey", 21)),
                    SelectItem::Field(path("UserRole.Name", at("UserRole"))),
                ],
                from: ident("User", at("User ")),
                where_clause: Some(Condition::And(vec![
                    Condition::Compare {
                        field: path("IsActive", at("IsActive")),
                        op: CompareOp::Eq,
                        value: Literal::Bool(true),
                    },
                    Condition::In {
                        field: path("UserType", at("UserType")),
                        negated: false,
                        values: vec![string("Standard"), string("PowerPartner")],
                    },
                ])),
                order_by: vec![OrderItem {
                    field: path("Id", at("Id ASC")),
                    descending: false,
                    nulls_first: Some(false),
                }],
                limit: Some(2000),
                offset: None,
            }
        );
    }

    #[test]
    fn count_all_is_a_select_item_of_its_own() {
        let query = parse("SELECT COUNT() FROM PermissionSetAssignment").expect("valid");
        assert_eq!(query.select, vec![SelectItem::CountAll { pos: 7 }]);
        assert_eq!(query.from, ident("PermissionSetAssignment", 20));
    }

    #[test]
    fn aggregates_take_optional_aliases() {
        let query = parse("SELECT COUNT(Id) c, MAX(SystemModstamp) m, min(CreatedDate) FROM User")
            .expect("valid");
        assert_eq!(
            query.select,
            vec![
                SelectItem::Aggregate {
                    func: AggregateFunc::Count,
                    field: path("Id", 13),
                    alias: Some(ident("c", 17)),
                    pos: 7,
                },
                SelectItem::Aggregate {
                    func: AggregateFunc::Max,
                    field: path("SystemModstamp", 24),
                    alias: Some(ident("m", 40)),
                    pos: 20,
                },
                SelectItem::Aggregate {
                    func: AggregateFunc::Min,
                    field: path("CreatedDate", 47),
                    alias: None,
                    pos: 43,
                },
            ]
        );
    }

    #[test]
    fn semi_join_subquery_parses_into_a_nested_query() {
        let text = "SELECT Id FROM User WHERE Id IN (SELECT AssigneeId FROM \
                    PermissionSetAssignment WHERE PermissionSet.IsOwnedByProfile = false)";
        assert_eq!(
            where_of(text),
            Condition::SemiJoin {
                field: p("Id"),
                negated: false,
                query: Box::new(Query {
                    select: vec![SelectItem::Field(p("AssigneeId"))],
                    from: ident("PermissionSetAssignment", 0),
                    where_clause: Some(cmp(
                        "PermissionSet.IsOwnedByProfile",
                        CompareOp::Eq,
                        Literal::Bool(false)
                    )),
                    order_by: vec![],
                    limit: None,
                    offset: None,
                }),
            }
        );
        let query = parse(text).expect("valid");
        let Some(Condition::SemiJoin { query: inner, .. }) = query.where_clause else {
            panic!("semi-join expected");
        };
        assert_eq!(
            inner.from.pos,
            text.find("PermissionSetAssignment").expect("in text")
        );
    }

    #[test]
    fn anti_join_with_order_by_and_limit_in_the_subquery_parses() {
        let condition = where_of(
            "SELECT Id FROM User WHERE Id NOT IN (SELECT UserId FROM UserLogin ORDER BY UserId LIMIT 5)",
        );
        let Condition::SemiJoin { negated, query, .. } = condition else {
            panic!("semi-join expected");
        };
        assert!(negated);
        assert_eq!(query.limit, Some(5));
        assert_eq!(query.order_by.len(), 1);
    }

    #[test]
    fn id_paging_query_parses() {
        let query = parsed(
            "SELECT Id FROM PermissionSetAssignment WHERE Id > '0Pa5g0000000001AAA' ORDER BY Id LIMIT 2000",
        );
        assert_eq!(
            query.where_clause,
            Some(cmp("Id", CompareOp::Gt, string("0Pa5g0000000001AAA")))
        );
        assert_eq!(
            query.order_by,
            vec![OrderItem {
                field: p("Id"),
                descending: false,
                nulls_first: None
            }]
        );
        assert_eq!(query.limit, Some(2000));
    }

    #[test]
    fn unquoted_datetime_is_a_utc_datetime_literal() {
        assert_eq!(
            where_of("SELECT Id FROM User WHERE SystemModstamp > 2024-01-01T00:00:00Z"),
            cmp(
                "SystemModstamp",
                CompareOp::Gt,
                Literal::DateTime(Utc.with_ymd_and_hms(2024, 1, 1, 0, 0, 0).unwrap())
            )
        );
    }

    #[test]
    fn datetime_offsets_and_milliseconds_are_converted_to_utc() {
        let expected = Utc.with_ymd_and_hms(2024, 1, 31, 9, 0, 0).unwrap();
        for text in [
            "2024-01-31T10:00:00+01:00",
            "2024-01-31T10:00:00+0100",
            "2024-01-31T04:30:00-04:30",
            "2024-01-31T09:00:00.000Z",
        ] {
            assert_eq!(
                where_of(&format!("SELECT Id FROM User WHERE D = {text}")),
                cmp("D", CompareOp::Eq, Literal::DateTime(expected)),
                "{text}"
            );
        }
        let with_millis = expected + TimeDelta::milliseconds(120);
        for text in ["2024-01-31T09:00:00.12Z", "2024-01-31T09:00:00.120Z"] {
            assert_eq!(
                where_of(&format!("SELECT Id FROM User WHERE D = {text}")),
                cmp("D", CompareOp::Eq, Literal::DateTime(with_millis)),
                "{text}"
            );
        }
    }

    #[test]
    fn unquoted_date_is_a_date_literal_and_quoted_date_is_a_string() {
        let date = NaiveDate::from_ymd_opt(2024, 2, 29).unwrap();
        assert_eq!(
            where_of("SELECT Id FROM User WHERE D = 2024-02-29 OR D = '2024-02-29'"),
            Condition::Or(vec![
                cmp("D", CompareOp::Eq, Literal::Date(date)),
                cmp("D", CompareOp::Eq, string("2024-02-29")),
            ])
        );
    }

    #[test]
    fn like_pattern_keeps_escaped_underscore_and_percent() {
        assert_eq!(
            where_of(r"SELECT Id FROM Account WHERE Name LIKE 'Acme\_%'"),
            Condition::Like {
                field: p("Name"),
                pattern: r"Acme\_%".to_string()
            }
        );
        assert_eq!(
            where_of(r"SELECT Id FROM Account WHERE Name = '100\%'"),
            cmp("Name", CompareOp::Eq, string(r"100\%"))
        );
    }

    #[test]
    fn string_escapes_are_resolved() {
        assert_eq!(
            where_of(r#"SELECT Id FROM User WHERE N = 'a\'b\\c\"d\ne\rf\tg\bh\fi\Nj\u00e9k'"#),
            cmp(
                "N",
                CompareOp::Eq,
                string("a'b\\c\"d\ne\rf\tg\u{8}h\u{c}i\nj\u{e9}k")
            )
        );
        assert_eq!(
            where_of("SELECT Id FROM User WHERE N = 'multi\nline é 😀 \"quoted\"'"),
            cmp("N", CompareOp::Eq, string("multi\nline é 😀 \"quoted\""))
        );
    }

    #[test]
    fn not_applies_to_the_next_term() {
        assert_eq!(
            where_of("SELECT Id FROM User WHERE NOT (IsActive = false)"),
            Condition::Not(Box::new(cmp(
                "IsActive",
                CompareOp::Eq,
                Literal::Bool(false)
            )))
        );
        assert_eq!(
            where_of("SELECT Id FROM User WHERE NOT A = 1 AND NOT NOT B = 2"),
            Condition::And(vec![
                Condition::Not(Box::new(cmp("A", CompareOp::Eq, number("1")))),
                Condition::Not(Box::new(Condition::Not(Box::new(cmp(
                    "B",
                    CompareOp::Eq,
                    number("2")
                ))))),
            ])
        );
    }

    #[test]
    fn parenthesized_or_inside_and_keeps_its_grouping() {
        assert_eq!(
            where_of("SELECT Id FROM User WHERE (A = 1 OR B = 2) AND C = null"),
            Condition::And(vec![
                Condition::Or(vec![
                    cmp("A", CompareOp::Eq, number("1")),
                    cmp("B", CompareOp::Eq, number("2")),
                ]),
                cmp("C", CompareOp::Eq, Literal::Null),
            ])
        );
        assert_eq!(
            where_of("SELECT Id FROM User WHERE ((A = 1) AND B = 2) AND C = 3"),
            Condition::And(vec![
                Condition::And(vec![
                    cmp("A", CompareOp::Eq, number("1")),
                    cmp("B", CompareOp::Eq, number("2")),
                ]),
                cmp("C", CompareOp::Eq, number("3")),
            ])
        );
    }

    #[test]
    fn every_comparison_operator_parses_and_angle_brackets_mean_not_equal() {
        let cases = [
            ("=", CompareOp::Eq),
            ("!=", CompareOp::Ne),
            ("<>", CompareOp::Ne),
            ("<", CompareOp::Lt),
            ("<=", CompareOp::Le),
            (">", CompareOp::Gt),
            (">=", CompareOp::Ge),
        ];
        for (written, op) in cases {
            assert_eq!(
                where_of(&format!("SELECT Id FROM User WHERE A {written} -3.25")),
                cmp("A", op, number("-3.25")),
                "{written}"
            );
            assert_eq!(
                where_of(&format!("SELECT Id FROM User WHERE A{written}7")),
                cmp("A", op, number("7")),
                "{written} without spaces"
            );
        }
    }

    #[test]
    fn literals_of_every_kind_parse_in_an_in_list() {
        assert_eq!(
            where_of(
                "SELECT Id FROM User WHERE A NOT IN (NULL, True, FALSE, 'x', 0, 1.5, 2024-01-31)"
            ),
            Condition::In {
                field: p("A"),
                negated: true,
                values: vec![
                    Literal::Null,
                    Literal::Bool(true),
                    Literal::Bool(false),
                    string("x"),
                    number("0"),
                    number("1.5"),
                    Literal::Date(NaiveDate::from_ymd_opt(2024, 1, 31).unwrap()),
                ],
            }
        );
    }

    #[test]
    fn keywords_are_case_insensitive_and_whitespace_includes_newlines() {
        let query = parsed(
            "select Id\n,\tName\r\nfrom User\nwhere Name like 'a%' or IsActive = TRUE\norder by Name desc nulls first, Id asc\nlimit 10 offset 20",
        );
        assert_eq!(query.select.len(), 2);
        assert_eq!(query.from.name, "User");
        assert_eq!(
            query.where_clause,
            Some(Condition::Or(vec![
                Condition::Like {
                    field: p("Name"),
                    pattern: "a%".to_string()
                },
                cmp("IsActive", CompareOp::Eq, Literal::Bool(true)),
            ]))
        );
        assert_eq!(
            query.order_by,
            vec![
                OrderItem {
                    field: p("Name"),
                    descending: true,
                    nulls_first: Some(true)
                },
                OrderItem {
                    field: p("Id"),
                    descending: false,
                    nulls_first: None
                },
            ]
        );
        assert_eq!((query.limit, query.offset), (Some(10), Some(20)));
    }

    #[test]
    fn keyword_named_objects_and_relationships_are_accepted() {
        assert_eq!(parsed("SELECT Id FROM Group").from.name, "Group");
        assert_eq!(parsed("SELECT Id FROM Order ORDER BY Id").order_by.len(), 1);
        assert_eq!(
            parsed("SELECT Group.Name FROM GroupMember WHERE Group.Type = 'Queue'").select,
            vec![SelectItem::Field(p("Group.Name"))]
        );
    }

    // --- rejected features ---------------------------------------------------------------

    #[test]
    fn unsupported_features_fail_at_their_first_token() {
        let cases = [
            (
                "SELECT Id, (SELECT Id FROM Assignments) FROM PermissionSet",
                "(",
            ),
            (
                "SELECT TYPEOF Owner WHEN User THEN Name END FROM Group",
                "TYPEOF",
            ),
            ("SELECT FIELDS(ALL) FROM User LIMIT 200", "FIELDS"),
            ("SELECT SUM(Amount) FROM Opportunity", "SUM"),
            ("SELECT COUNT(Id) FROM User GROUP BY ProfileId", "GROUP"),
            ("SELECT Id FROM User HAVING COUNT(Id) > 1", "HAVING"),
            ("SELECT Id FROM User WITH SECURITY_ENFORCED", "WITH"),
            ("SELECT Id FROM User FOR VIEW", "FOR"),
            ("SELECT Id FROM User LIMIT 1 FOR UPDATE", "FOR"),
            ("SELECT Id FROM Account USING SCOPE Mine", "USING"),
            ("SELECT Id FROM User WHERE CreatedDate = TODAY", "TODAY"),
            (
                "SELECT Id FROM User WHERE CreatedDate = LAST_N_DAYS:7",
                "LAST_N_DAYS",
            ),
            (
                "SELECT Id FROM A WHERE Tags__c INCLUDES ('a;b')",
                "INCLUDES",
            ),
            ("SELECT Id FROM A WHERE Tags__c EXCLUDES ('a')", "EXCLUDES"),
            ("SELECT Id FROM User WHERE Id = :userId", ":"),
            ("SELECT Id FROM User u", "u"),
            (
                "SELECT Id FROM User WHERE DAY_ONLY(CreatedDate) = 2024-01-01",
                "DAY_ONLY",
            ),
        ];
        for (text, token) in cases {
            let pos = text.find(token).expect("token in text");
            assert_eq!(error(text), unexpected(pos, token), "{text}");
        }
    }

    #[test]
    fn count_all_mixed_with_other_items_is_rejected() {
        assert_eq!(error("SELECT COUNT(), Id FROM User"), unexpected(14, ","));
        // After `COUNT(` later in the list a field is expected, so the `)` is unexpected.
        assert_eq!(error("SELECT Id, COUNT() FROM User"), unexpected(17, ")"));
    }

    #[test]
    fn aggregates_mixed_with_plain_fields_are_rejected() {
        assert_eq!(
            error("SELECT Name, COUNT(Id) FROM User"),
            (7, "Field must be grouped or aggregated: Name".to_string())
        );
        assert_eq!(
            error("SELECT COUNT(Id) FROM User ORDER BY Profile.Name"),
            (
                36,
                "Ordered field must be grouped or aggregated: Profile.Name".to_string()
            )
        );
        assert_eq!(error("SELECT COUNT() c FROM User"), unexpected(15, "c"));
    }

    #[test]
    fn mixing_and_with_or_without_parentheses_is_rejected() {
        assert_eq!(
            error("SELECT Id FROM User WHERE A = 1 AND B = 2 OR C = 3"),
            unexpected(42, "OR")
        );
        assert_eq!(
            error("SELECT Id FROM User WHERE A = 1 OR B = 2 AND C = 3"),
            unexpected(41, "AND")
        );
    }

    #[test]
    fn nested_semi_join_is_rejected_at_the_inner_select() {
        let text = "SELECT Id FROM User WHERE Id IN (SELECT AssigneeId FROM PermissionSetAssignment \
                    WHERE PermissionSetId IN (SELECT Id FROM PermissionSet))";
        let pos = text.rfind("SELECT").expect("inner select");
        assert_eq!(
            error(text),
            (
                pos,
                "Nesting of semi join sub-selects is not supported".to_string()
            )
        );
    }

    #[test]
    fn semi_join_selects_exactly_one_plain_field_and_no_offset() {
        assert_eq!(
            error("SELECT Id FROM User WHERE Id IN (SELECT Id, Name FROM User)"),
            unexpected(42, ",")
        );
        assert_eq!(
            error("SELECT Id FROM User WHERE Id IN (SELECT COUNT() FROM User)"),
            unexpected(40, "COUNT")
        );
        assert_eq!(
            error("SELECT Id FROM User WHERE Id IN (SELECT Id FROM User OFFSET 1)"),
            (
                53,
                "expecting a right parentheses, found 'OFFSET'".to_string()
            )
        );
    }

    #[test]
    fn structural_errors_name_the_offending_token() {
        let cases: [(&str, (usize, String)); 16] = [
            ("", (0, "unexpected token: <EOF>".to_string())),
            ("UPDATE User", unexpected(0, "UPDATE")),
            ("SELECT FROM User", unexpected(7, "FROM")),
            ("SELECT Id User", unexpected(10, "User")),
            ("SELECT Id, FROM User", unexpected(11, "FROM")),
            (
                "SELECT Id FROM",
                (14, "unexpected token: <EOF>".to_string()),
            ),
            (
                "SELECT Id FROM User WHERE",
                (25, "unexpected token: <EOF>".to_string()),
            ),
            (
                "SELECT Id FROM User WHERE Id",
                (28, "unexpected token: <EOF>".to_string()),
            ),
            (
                "SELECT Id FROM User WHERE Id = ",
                (31, "unexpected token: <EOF>".to_string()),
            ),
            (
                "SELECT Id FROM User WHERE Id = Name",
                unexpected(31, "Name"),
            ),
            ("SELECT Id FROM User WHERE Name LIKE 5", unexpected(36, "5")),
            ("SELECT Id FROM User WHERE Id IN ()", unexpected(33, ")")),
            (
                "SELECT Id FROM User WHERE Id NOT LIKE 'a'",
                unexpected(33, "LIKE"),
            ),
            ("SELECT Id FROM User ORDER Id", unexpected(26, "Id")),
            (
                "SELECT Id FROM User ORDER BY Id NULLS",
                (37, "unexpected token: <EOF>".to_string()),
            ),
            (
                "SELECT Id FROM User LIMIT 5 ORDER BY Id",
                unexpected(28, "ORDER"),
            ),
        ];
        for (text, expected) in cases {
            assert_eq!(error(text), expected, "{text}");
        }
    }

    #[test]
    fn missing_right_parenthesis_is_reported_as_salesforce_words_it() {
        assert_eq!(
            error("SELECT Id FROM User WHERE Id IN ('a' 'b')"),
            (37, "expecting a right parentheses, found ''b''".to_string())
        );
        assert_eq!(
            error("SELECT Id FROM User WHERE (A = 1"),
            (
                32,
                "expecting a right parentheses, found '<EOF>'".to_string()
            )
        );
        assert_eq!(
            error("SELECT MAX(A B) FROM User"),
            (13, "expecting a right parentheses, found 'B'".to_string())
        );
    }

    #[test]
    fn limit_and_offset_take_non_negative_integers() {
        assert_eq!(error("SELECT Id FROM User LIMIT -1"), unexpected(26, "-1"));
        assert_eq!(
            error("SELECT Id FROM User LIMIT 1.5"),
            unexpected(26, "1.5")
        );
        assert_eq!(
            error("SELECT Id FROM User OFFSET 'a'"),
            unexpected(27, "'a'")
        );
        assert_eq!(
            error("SELECT Id FROM User LIMIT 99999999999999999999"),
            (26, "number too large: 99999999999999999999".to_string())
        );
        assert_eq!(parsed("SELECT Id FROM User OFFSET 0").offset, Some(0));
    }

    // --- lexical errors ------------------------------------------------------------------

    #[test]
    fn unreadable_characters_are_no_viable_alternative() {
        assert_eq!(
            error("SELECT Id FROM User WHERE A = 1 # x"),
            (
                32,
                "line 1:32 no viable alternative at character '#'".to_string()
            )
        );
        assert_eq!(
            error("SELECT Id FROM User;"),
            (
                19,
                "line 1:19 no viable alternative at character ';'".to_string()
            )
        );
        assert_eq!(
            error("SELECT Id\nFROM User WHERE A ! 1"),
            (
                28,
                "line 2:18 no viable alternative at character '!'".to_string()
            )
        );
        assert_eq!(
            error("SELECT Ü FROM User"),
            (
                7,
                "line 1:7 no viable alternative at character 'Ü'".to_string()
            )
        );
        assert_eq!(
            error("SELECT \"Id\" FROM User"),
            (
                7,
                "line 1:7 no viable alternative at character '\"'".to_string()
            )
        );
    }

    #[test]
    fn first_error_in_the_text_wins_over_a_later_unreadable_character() {
        assert_eq!(error("SELECT FROM User #"), unexpected(7, "FROM"));
    }

    #[test]
    fn bad_string_literals_are_rejected() {
        assert_eq!(
            error("SELECT Id FROM User WHERE N = 'abc"),
            (30, "unterminated string".to_string())
        );
        assert_eq!(
            error(r"SELECT Id FROM User WHERE N = 'abc\"),
            (30, "unterminated string".to_string())
        );
        assert_eq!(
            error(r"SELECT Id FROM User WHERE N = 'a\qb'"),
            (
                32,
                r"Illegal character sequence '\q' in string literal".to_string()
            )
        );
        assert_eq!(
            error(r"SELECT Id FROM User WHERE N = 'a\u12'"),
            (
                32,
                r"Illegal character sequence '\u12'' in string literal".to_string()
            )
        );
        assert_eq!(
            error(r"SELECT Id FROM User WHERE N = 'a\uD800'"),
            (
                32,
                r"Illegal character sequence '\uD800' in string literal".to_string()
            )
        );
    }

    #[test]
    fn bad_date_and_datetime_literals_are_rejected_whole() {
        let cases = [
            ("2024-13-01", "Invalid date: 2024-13-01"),
            ("2023-02-29", "Invalid date: 2023-02-29"),
            ("2024-1-01", "Invalid date: 2024-1-01"),
            (
                "2024-01-01T25:00:00Z",
                "Invalid datetime: 2024-01-01T25:00:00Z",
            ),
            (
                "2024-01-01T10:00:00",
                "Invalid datetime: 2024-01-01T10:00:00",
            ),
            ("2024-01-01T10:00Z", "Invalid datetime: 2024-01-01T10:00Z"),
            (
                "2024-01-01T10:00:00.1234Z",
                "Invalid datetime: 2024-01-01T10:00:00.1234Z",
            ),
            (
                "2024-01-01T10:00:00+1:00",
                "Invalid datetime: 2024-01-01T10:00:00+1:00",
            ),
            (
                "2024-01-01T10:00:00+01:60",
                "Invalid datetime: 2024-01-01T10:00:00+01:60",
            ),
            (
                "0000-01-01T00:00:00+01:00",
                "Invalid datetime: 0000-01-01T00:00:00+01:00",
            ),
        ];
        for (literal, detail) in cases {
            assert_eq!(
                error(&format!("SELECT Id FROM User WHERE D = {literal}")),
                (30, detail.to_string()),
                "{literal}"
            );
        }
    }

    #[test]
    fn query_longer_than_the_limit_is_rejected() {
        let long = format!(
            "SELECT Id FROM User WHERE Name = '{}'",
            "é".repeat(MAX_QUERY_CHARS)
        );
        let chars = long.chars().count();
        assert_eq!(
            error(&long),
            (
                0,
                format!("query too long: {chars} characters (the limit is 100000)")
            )
        );
        // Multi-byte text under the character limit is fine even above 100,000 bytes.
        let padding = "é".repeat(MAX_QUERY_CHARS - 40);
        assert!(parse(&format!("SELECT Id FROM User WHERE Name = '{padding}'")).is_ok());
    }

    #[test]
    fn deeply_nested_conditions_are_rejected_without_overflowing_the_stack() {
        let deep = format!("SELECT Id FROM User WHERE {}A = 1", "(".repeat(10_000));
        let (pos, detail) = error(&deep);
        assert_eq!(pos, 26 + MAX_NESTING);
        assert!(detail.starts_with("query too complicated"), "{detail}");
        let nots = format!("SELECT Id FROM User WHERE {}A = 1", "NOT ".repeat(10_000));
        assert!(parse(&nots).is_err());
        let fine = format!(
            "SELECT Id FROM User WHERE {}A = 1{}",
            "(".repeat(50),
            ")".repeat(50)
        );
        assert!(parse(&fine).is_ok());
    }

    #[test]
    fn error_displays_detail_and_offset() {
        let err = parse("SELECT FROM User").expect_err("invalid");
        assert_eq!(err.to_string(), "unexpected token: 'FROM' (at byte 7)");
        assert_eq!(
            err.salesforce_message("SELECT FROM User"),
            "\nSELECT FROM User\n       ^\nERROR at Row:1:Column:8\nunexpected token: 'FROM'"
        );
    }

    proptest! {
        #[test]
        fn parse_never_panics_on_arbitrary_text(text in any::<String>()) {
            let _ = parse(&text);
        }

        #[test]
        fn parse_never_panics_on_soql_like_token_soup(
            words in proptest::collection::vec(
                prop::sample::select(vec![
                    "SELECT", "Id", "Name", ",", "FROM", "User", "WHERE", "AND", "OR", "NOT",
                    "(", ")", "IN", "LIKE", "=", "!=", "<", ">=", "'a\\'b'", "'", "\\", "null",
                    "true", "1", "-2.5", "2024-01-01", "2024-01-01T00:00:00Z", "2024-99",
                    "ORDER", "BY", "ASC", "DESC", "NULLS", "FIRST", "LIMIT", "OFFSET", "COUNT",
                    "COUNT()", "MAX", ".", ":", "é", "#",
                ]),
                0..40,
            ),
            separator in prop::sample::select(vec!["", " ", "\n"]),
        ) {
            let text = words.join(separator);
            if let Err(err) = parse(&text) {
                prop_assert!(err.pos <= text.len());
                prop_assert!(text.is_char_boundary(err.pos));
            }
        }
    }
}
