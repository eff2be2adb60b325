//! The attribute's options: `driver`, `kernel_compat`, `entries` and `crate`, parsed
//! from `#[ringloop::main(...)]`'s arguments, every mistake an error spanned at the
//! option or value it is about.

use proc_macro2::{Span, TokenStream};
use quote::ToTokens;
use syn::parse::Parser;
use syn::{Expr, ExprLit, Lit, LitInt, LitStr, Path};

/// The driver names, as `RINGLOOP_DRIVER` spells them.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum Driver {
    Auto,
    IoUring,
    Epoll,
}

impl Driver {
    /// The variant of `ringloop::Driver`.
    pub(crate) fn variant(self) -> &'static str {
        match self {
            Driver::Auto => "Auto",
            Driver::IoUring => "IoUring",
            Driver::Epoll => "Epoll",
        }
    }
}

/// The kernel feature sets, as `RINGLOOP_KERNEL_COMPAT` spells them.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum KernelCompat {
    Native,
    V5_10,
}

impl KernelCompat {
    /// The variant of `ringloop::KernelCompat`.
    pub(crate) fn variant(self) -> &'static str {
        match self {
            KernelCompat::Native => "Native",
            KernelCompat::V5_10 => "V5_10",
        }
    }
}

const DRIVERS: &str = "`driver = \"auto\"`, `driver = \"uring\"` or `driver = \"epoll\"`";
const COMPATS: &str = "`kernel_compat = \"5.10\"` or `kernel_compat = \"native\"`";
const OPTIONS: &str = "`driver = \"auto\" | \"uring\" | \"epoll\"`, \
                       `kernel_compat = \"5.10\" | \"native\"`, `entries = N` \
                       and `crate = \"path\"`";

/// What the attribute was given; `None` for an option left out.
#[derive(Default)]
pub(crate) struct Options {
    pub(crate) driver: Option<Driver>,
    pub(crate) kernel_compat: Option<(KernelCompat, Span)>,
    pub(crate) entries: Option<u32>,
    /// The path ringloop is reached by (`::ringloop` when not given).
    pub(crate) krate: Option<Path>,
    /// The options as written (without `crate`), for the message of a runtime that
    /// cannot be built: `driver = "uring", entries = 64`.
    pub(crate) described: Vec<String>,
}

impl Options {
    /// Parses the attribute's arguments. Every mistake in a value is reported (the
    /// parse goes on after it); a mistake in the syntax ends the parse.
    pub(crate) fn parse(args: TokenStream) -> syn::Result<Options> {
        let mut options = Options::default();
        let mut errors: Option<syn::Error> = None;
        let parser = syn::meta::parser(|meta| {
            if !meta.input.peek(syn::Token![=]) {
                let name = name(&meta.path);
                return Err(meta.error(format!(
                    "option `{name}` needs a value: {}",
                    expected_for(&name)
                )));
            }
            let value: Expr = meta.value()?.parse()?;
            if let Err(e) = options.option(&meta.path, &value) {
                match &mut errors {
                    Some(all) => all.combine(e),
                    None => errors = Some(e),
                }
            }
            Ok(())
        });
        if let Err(e) = parser.parse2(args) {
            match &mut errors {
                Some(all) => all.combine(e),
                None => errors = Some(e),
            }
        }
        if let Some(e) = errors {
            return Err(e);
        }
        options.check_combination()?;
        Ok(options)
    }

    /// One `name = value`.
    fn option(&mut self, path: &Path, value: &Expr) -> syn::Result<()> {
        let name = name(path);
        let duplicate = match name.as_str() {
            "driver" => self.driver.is_some(),
            "kernel_compat" => self.kernel_compat.is_some(),
            "entries" => self.entries.is_some(),
            "crate" => self.krate.is_some(),
            _ => {
                return Err(syn::Error::new_spanned(
                    path,
                    format!("unknown option `{name}`: the options are {OPTIONS}"),
                ))
            }
        };
        if duplicate {
            return Err(syn::Error::new_spanned(
                path,
                format!("option `{name}` is given twice: give it once"),
            ));
        }
        match name.as_str() {
            "driver" => {
                let s = string(value, &name)?;
                let driver = match s.value().trim() {
                    "auto" => Driver::Auto,
                    "uring" | "io_uring" | "iouring" => Driver::IoUring,
                    "epoll" => Driver::Epoll,
                    other => {
                        return Err(syn::Error::new(
                            s.span(),
                            format!("unknown driver {other:?}: expected {DRIVERS}"),
                        ))
                    }
                };
                self.driver = Some(driver);
                self.described.push(format!("driver = {:?}", s.value()));
            }
            "kernel_compat" => {
                let s = string(value, &name)?;
                let compat = match s.value().trim() {
                    "5.10" => KernelCompat::V5_10,
                    "native" | "none" => KernelCompat::Native,
                    other => {
                        return Err(syn::Error::new(
                            s.span(),
                            format!("unknown kernel_compat {other:?}: expected {COMPATS}"),
                        ))
                    }
                };
                self.kernel_compat = Some((compat, path_span(path)));
                self.described
                    .push(format!("kernel_compat = {:?}", s.value()));
            }
            "entries" => {
                let n = entries(value)?;
                self.entries = Some(n);
                self.described.push(format!("entries = {n}"));
            }
            _ => {
                let s = string(value, &name)?;
                let krate: Path = s.parse().map_err(|_| {
                    syn::Error::new(
                        s.span(),
                        format!(
                            "{:?} is not a path: `crate` names how ringloop is reached, \
                             as in `crate = \"my_ringloop\"`",
                            s.value()
                        ),
                    )
                })?;
                self.krate = Some(krate);
            }
        }
        Ok(())
    }

    /// The options that do nothing together: io_uring's on the epoll driver.
    fn check_combination(&self) -> syn::Result<()> {
        let Some(Driver::Epoll) = self.driver else {
            return Ok(());
        };
        if let Some((_, span)) = self.kernel_compat {
            return Err(syn::Error::new(
                span,
                "`kernel_compat` limits io_uring's features; it has no effect with \
                 `driver = \"epoll\"`: remove one of them",
            ));
        }
        Ok(())
    }
}

fn path_span(path: &Path) -> Span {
    path.segments
        .first()
        .map_or_else(Span::call_site, |s| s.ident.span())
}

fn expected_for(name: &str) -> String {
    match name {
        "driver" => DRIVERS.to_owned(),
        "kernel_compat" => COMPATS.to_owned(),
        "entries" => "`entries = N`, the io_uring submission queue size".to_owned(),
        _ => "`crate = \"path\"`, the path ringloop is reached by".to_owned(),
    }
}

/// The option's name as written (`crate` included, a keyword).
fn name(path: &Path) -> String {
    path.to_token_stream().to_string().replace(' ', "")
}

/// The literal `value` is, if it is one.
fn literal(value: &Expr) -> Option<&Lit> {
    match value {
        Expr::Lit(ExprLit { lit, attrs }) if attrs.is_empty() => Some(lit),
        _ => None,
    }
}

fn string<'a>(value: &'a Expr, name: &str) -> syn::Result<&'a LitStr> {
    match literal(value) {
        Some(Lit::Str(s)) => Ok(s),
        _ => Err(syn::Error::new_spanned(
            value,
            format!("`{name}` takes a string: {}", expected_for(name)),
        )),
    }
}

fn entries(value: &Expr) -> syn::Result<u32> {
    let expected = "`entries` takes an integer from 1 to 4294967295 (the io_uring \
                    submission queue size; rounded up to a power of two, clamped to \
                    what the kernel allows)";
    let Some(Lit::Int(int)) = literal(value) else {
        return Err(syn::Error::new_spanned(value, expected));
    };
    match parse_u32(int) {
        Some(n) if n > 0 => Ok(n),
        _ => Err(syn::Error::new(int.span(), expected)),
    }
}

fn parse_u32(int: &LitInt) -> Option<u32> {
    if !matches!(int.suffix(), "" | "u32") {
        return None;
    }
    int.base10_parse::<u32>().ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use quote::quote;

    fn parse(args: TokenStream) -> syn::Result<Options> {
        Options::parse(args)
    }

    fn error(args: TokenStream) -> String {
        match parse(args) {
            Ok(_) => panic!("accepted"),
            Err(e) => e.to_string(),
        }
    }

    #[test]
    fn no_options() {
        let o = parse(quote!()).unwrap();
        assert!(o.driver.is_none() && o.kernel_compat.is_none() && o.entries.is_none());
        assert!(o.krate.is_none() && o.described.is_empty());
    }

    #[test]
    fn every_option() {
        let o = parse(quote!(
            driver = "uring",
            kernel_compat = "5.10",
            entries = 64,
            crate = "rl"
        ))
        .unwrap();
        assert_eq!(o.driver, Some(Driver::IoUring));
        assert_eq!(o.kernel_compat.map(|k| k.0), Some(KernelCompat::V5_10));
        assert_eq!(o.entries, Some(64));
        assert_eq!(o.krate.unwrap().to_token_stream().to_string(), "rl");
        assert_eq!(
            o.described,
            [
                "driver = \"uring\"",
                "kernel_compat = \"5.10\"",
                "entries = 64"
            ]
        );
    }

    #[test]
    fn driver_names() {
        for (name, driver) in [
            ("auto", Driver::Auto),
            ("uring", Driver::IoUring),
            ("io_uring", Driver::IoUring),
            ("epoll", Driver::Epoll),
        ] {
            let o = parse(quote!(driver = #name)).unwrap();
            assert_eq!(o.driver, Some(driver), "{name}");
        }
    }

    #[test]
    fn mistakes() {
        assert!(error(quote!(drivr = "epoll")).starts_with("unknown option `drivr`"));
        assert!(error(quote!(driver = "kqueue")).contains("unknown driver \"kqueue\""));
        assert!(error(quote!(driver = epoll)).starts_with("`driver` takes a string"));
        assert!(error(quote!(entries = -1)).starts_with("`entries` takes an integer"));
        assert!(error(quote!(driver = 1)).starts_with("`driver` takes a string"));
        assert!(error(quote!(kernel_compat = "4.19")).contains("expected `kernel_compat"));
        assert!(error(quote!(entries = 0)).starts_with("`entries` takes an integer"));
        assert!(error(quote!(entries = 4294967296)).starts_with("`entries` takes an integer"));
        assert!(error(quote!(entries = "64")).starts_with("`entries` takes an integer"));
        assert!(error(quote!(driver = "auto", driver = "epoll")).contains("given twice"));
        assert!(error(quote!(driver)).contains("needs a value"));
        assert!(error(quote!(crate = "not a path")).contains("is not a path"));
        assert!(error(quote!(driver = "epoll", kernel_compat = "5.10")).contains("no effect"));
    }

    #[test]
    fn every_mistake_is_reported() {
        let e = parse(quote!(drivr = "epoll", entries = 0)).err().unwrap();
        assert_eq!(e.into_iter().count(), 2);
    }
}
