//! The expansion: the function's checks, then a plain `fn` that builds the runtime
//! the options ask for and runs the `async fn`'s body on it with `block_on`.

use proc_macro2::{Span, TokenStream};
use quote::{quote, quote_spanned, ToTokens};
use syn::spanned::Spanned;
use syn::ItemFn;

use crate::options::Options;

/// Which attribute is expanded.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    Main,
    Test,
}

impl Kind {
    fn name(self) -> &'static str {
        match self {
            Kind::Main => "main",
            Kind::Test => "test",
        }
    }
}

/// `#[ringloop::main(args)]` or `#[ringloop::test(args)]` on `item`: the expansion,
/// or `compile_error!`s for every mistake found.
pub(crate) fn expand(kind: Kind, args: TokenStream, item: TokenStream) -> TokenStream {
    let options = Options::parse(args);
    let function = syn::parse2::<ItemFn>(item).map_err(|e| {
        syn::Error::new(
            e.span(),
            format!("#[ringloop::{}] goes on an `async fn`: {e}", kind.name()),
        )
    });
    // A `main` is left in place of one with mistakes, so that the crate does not
    // report a missing `main` on top of them.
    let placeholder =
        kind == Kind::Main && function.as_ref().map_or(true, |f| f.sig.ident == "main");
    let checked = function.and_then(|f| check(kind, &f).map(|()| f));
    match (options, checked) {
        (Ok(options), Ok(function)) => generate(kind, &options, function),
        (options, function) => {
            let mut errors: Option<syn::Error> = None;
            for e in [options.err(), function.err()].into_iter().flatten() {
                match &mut errors {
                    Some(all) => all.combine(e),
                    None => errors = Some(e),
                }
            }
            let errors = errors.map(|e| e.to_compile_error());
            let placeholder = placeholder.then(|| {
                quote!(
                    fn main() {}
                )
            });
            quote!(#errors #placeholder)
        }
    }
}

/// The function's own mistakes, all of them.
fn check(kind: Kind, f: &ItemFn) -> syn::Result<()> {
    let name = kind.name();
    let sig = &f.sig;
    let mut errors = Vec::new();
    if sig.asyncness.is_none() {
        errors.push(syn::Error::new_spanned(
            sig.fn_token,
            format!(
                "#[ringloop::{name}] goes on an `async fn`: write `async fn {}`",
                sig.ident
            ),
        ));
    }
    if kind == Kind::Main && sig.ident != "main" {
        errors.push(syn::Error::new_spanned(
            &sig.ident,
            format!(
                "#[ringloop::main] goes on `async fn main()`, not on `{}`: for a test use \
                 #[ringloop::test]; elsewhere call `ringloop::run` or a `Runtime`'s \
                 `block_on`",
                sig.ident
            ),
        ));
    }
    if !sig.inputs.is_empty() {
        errors.push(syn::Error::new_spanned(
            &sig.inputs,
            format!("#[ringloop::{name}] takes a function without arguments"),
        ));
    }
    if !sig.generics.params.is_empty() {
        errors.push(syn::Error::new_spanned(
            &sig.generics,
            format!(
                "#[ringloop::{name}] takes a function without generic parameters \
                 (no lifetimes, types or consts)"
            ),
        ));
    }
    if let Some(clause) = &sig.generics.where_clause {
        errors.push(syn::Error::new_spanned(
            clause,
            format!("#[ringloop::{name}] takes a function without a `where` clause"),
        ));
    }
    for (present, what) in [
        (sig.constness.map(|t| t.span()), "`const`"),
        (sig.unsafety.map(|t| t.span()), "`unsafe`"),
        (sig.abi.as_ref().map(|a| a.span()), "an `extern` ABI"),
    ] {
        if let Some(span) = present {
            errors.push(syn::Error::new(
                span,
                format!("#[ringloop::{name}] takes a plain `async fn`, without {what}"),
            ));
        }
    }
    if kind == Kind::Test {
        if let Some(attr) = f.attrs.iter().find(|a| a.path().is_ident("test")) {
            errors.push(syn::Error::new_spanned(
                attr,
                "#[ringloop::test] already makes the function a test: remove this #[test]",
            ));
        }
    }
    let mut errors = errors.into_iter();
    match errors.next() {
        None => Ok(()),
        Some(mut first) => {
            first.extend(errors);
            Err(first)
        }
    }
}

/// The plain `fn`.
fn generate(kind: Kind, options: &Options, f: ItemFn) -> TokenStream {
    let ItemFn {
        attrs,
        vis,
        mut sig,
        block,
    } = f;
    sig.asyncness = None;
    let krate = match &options.krate {
        Some(path) => path.to_token_stream(),
        None => quote!(::ringloop),
    };
    // The glue is spanned at the attribute; its local variable is mixed-site, so
    // the body cannot see it.
    let glue = Span::call_site();
    let local = Span::mixed_site();
    let runtime = quote_spanned!(local=> runtime);

    let mut builder = quote_spanned!(glue=> #krate::Runtime::builder());
    if let Some(driver) = options.driver {
        let variant = syn::Ident::new(driver.variant(), glue);
        builder.extend(quote_spanned!(glue=> .driver(#krate::Driver::#variant)));
    }
    if let Some((compat, _)) = options.kernel_compat {
        let variant = syn::Ident::new(compat.variant(), glue);
        builder.extend(quote_spanned!(glue=> .kernel_compat(#krate::KernelCompat::#variant)));
    }
    if let Some(entries) = options.entries {
        builder.extend(quote_spanned!(glue=> .entries(#entries)));
    }
    let attribute = if options.described.is_empty() {
        format!("#[ringloop::{}]", kind.name())
    } else {
        format!(
            "#[ringloop::{}({})]",
            kind.name(),
            options.described.join(", ")
        )
    };

    // The body stays an `async fn` of its own, inside the plain one: the compiler
    // checks it as it would the user's `async fn` (its `return`s, `?`s, output
    // type), and reports its errors where they are.
    let output = &sig.output;
    let inner = quote_spanned!(glue=> __ringloop_body);
    let test_attr =
        (kind == Kind::Test).then(|| quote_spanned!(glue=> #[::core::prelude::v1::test]));
    quote_spanned! {glue=>
        #test_attr
        #(#attrs)*
        #vis #sig {
            let #runtime = match #builder.build() {
                ::core::result::Result::Ok(runtime) => runtime,
                ::core::result::Result::Err(error) => ::core::panic!(
                    "{}: cannot build the runtime: {}", #attribute, error
                ),
            };
            async fn #inner() #output #block
            #runtime.block_on(#inner())
        }
    }
}
