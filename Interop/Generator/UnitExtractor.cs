namespace IoUring.Interop.Generator;

/// <summary>
/// Turns one translation unit into a <see cref="UnitModel"/> using only clang: the JSON AST for
/// declarations and types, the record layout dump for sizes and offsets, the preprocessor's
/// -dD output for macros, and a compiled probe for constant values and their C types.
/// </summary>
public sealed class UnitExtractor(ClangDriver clang, UnitSpec spec)
{
    public UnitModel Extract()
    {
        var ast = AstReader.ReadTopLevel(
            clang.SyntaxOnly(spec.Prelude, spec.IncludeDirs, $"the {spec.Name} headers", "-Xclang", "-ast-dump=json"));
        var model = new UnitModel { Spec = spec };
        var symbols = new AstSymbolTable(spec, ast);
        var types = new TypeResolver(model, symbols);

        var declarations = new DeclarationCollector(spec, model, symbols, types);
        declarations.CollectPrimaryDeclarations(ast);
        declarations.CollectSelectedFunctions(ast);
        // Records pulled in by fields and signatures need layouts too: resolve the closure, then dump all layouts at
        // once.
        declarations.ResolveClosure();

        var layouts = new RecordLayouter(clang, spec, model, symbols, types, declarations.Records, declarations.Enums);
        layouts.DumpLayouts();
        layouts.FillLayouts();
        new ConstantEvaluator(clang, spec, model, symbols)
            .Evaluate(ast, declarations.EnumeratorLocations, declarations.Enums);
        declarations.Functions.MarkLeafFunctions();
        declarations.Functions.VerifyExports();
        return model;
    }
}
