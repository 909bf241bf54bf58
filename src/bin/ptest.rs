fn main() {
    for p in std::env::args().skip(1) {
        let src = std::fs::read_to_string(&p).unwrap();
        let mut sm = twin::source::SourceMap::new();
        let f = sm.add(p.clone(), src.clone());
        match twin::syntax::parser::parse_file(f, &src) {
            Ok(ast) => println!("{p}: ok, {} items", ast.items.len()),
            Err(d) => print!("{}", twin::diagnostic::render(&sm, &[d], false)),
        }
    }
}
