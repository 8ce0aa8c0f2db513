import DovetailStore

/// Which tables to copy, in which order, and with which columns — derived from the live schemas, never
/// from a list written down here, so tables added by later migrations are copied without a change.
public struct CopyPlan: Sendable {
    /// Parents before children (foreign-key order), ties by name.
    public var tables: [CopyTable]
    /// Objects each database derives for itself and that are therefore not copied: generated columns,
    /// dialect-specific search columns, virtual (FTS) tables and their shadow tables.
    public var derived: [String]

    /// Matches the source's tables with the target's. `target` is nil when the target has not been migrated
    /// yet (a dry run): the source alone then decides, as migrating makes both describe the same schema.
    public static func make(source: CopyCatalog, target: CopyCatalog?) throws -> CopyPlan {
        var problems: [String] = []
        var derived: [String] = source.derivedTables.map { "\($0) (source virtual table)" }
        derived += (target?.derivedTables ?? []).map { "\($0) (target virtual table)" }
        var tables: [String: CopyTable] = [:]
        let cyclic = cyclicTables(source)

        for sourceTable in source.tables {
            let targetTable = target?.table(sourceTable.name)
            if target != nil && targetTable == nil {
                problems.append("table \(sourceTable.name) exists in the source but not in the target")
                continue
            }
            var columns: [CopyTable.Column] = []
            for column in sourceTable.columns {
                let counterpart = targetTable.map { $0.column(column.name) } ?? column
                guard let type = column.type else {
                    if targetTable == nil || counterpart == nil {
                        derived.append("\(sourceTable.name).\(column.name) (source-only \(column.declaredType))")
                    } else {
                        problems.append("column \(sourceTable.name).\(column.name) has type \(column.declaredType), which db copy cannot copy")
                    }
                    continue
                }
                guard let counterpart else {
                    problems.append("column \(sourceTable.name).\(column.name) exists in the source but not in the target")
                    continue
                }
                if counterpart.type != type {
                    problems.append(
                        "column \(sourceTable.name).\(column.name) is \(type.rawValue) in the source but "
                            + "\(counterpart.type?.rawValue ?? counterpart.declaredType) in the target"
                    )
                    continue
                }
                columns.append(.init(name: column.name, type: type))
            }
            derived += sourceTable.generatedColumns.map { "\(sourceTable.name).\($0) (generated in the source)" }
            if let targetTable {
                derived += targetTable.generatedColumns.map { "\(sourceTable.name).\($0) (generated in the target)" }
                for column in targetTable.columns where sourceTable.column(column.name) == nil {
                    if column.type == nil {
                        derived.append("\(sourceTable.name).\(column.name) (target-only \(column.declaredType))")
                    } else {
                        problems.append("column \(sourceTable.name).\(column.name) exists in the target but not in the source")
                    }
                }
                if targetTable.primaryKey != sourceTable.primaryKey {
                    problems.append(
                        "table \(sourceTable.name) has primary key (\(sourceTable.primaryKey.joined(separator: ", "))) in the source "
                            + "but (\(targetTable.primaryKey.joined(separator: ", "))) in the target"
                    )
                }
            }
            guard !columns.isEmpty else {
                problems.append("table \(sourceTable.name) has no column db copy can copy")
                continue
            }
            let keyIndexes = sourceTable.primaryKey.compactMap { name in columns.firstIndex { $0.name == name } }
            if keyIndexes.count != sourceTable.primaryKey.count {
                problems.append("the primary key of \(sourceTable.name) includes a column db copy cannot copy")
                continue
            }
            let sequenceColumns = (targetTable?.sequenceColumns ?? []).filter { name in columns.contains { $0.name == name } }
            tables[sourceTable.name] = CopyTable(
                name: sourceTable.name, columns: columns, keyIndexes: keyIndexes,
                defersForeignKeys: cyclic.contains(sourceTable.name), sequenceColumns: sequenceColumns
            )
        }
        if let target {
            for table in target.tables where source.table(table.name) == nil {
                problems.append("table \(table.name) exists in the target but not in the source")
            }
        }
        if !problems.isEmpty { throw DataCopyError.schemaMismatch(problems) }
        let order = foreignKeyOrder(tables: Array(tables.keys), foreignKeys: source.foreignKeys)
        return CopyPlan(tables: order.compactMap { tables[$0] }, derived: derived)
    }

    /// Kahn's algorithm over the tables' references, taking the alphabetically first ready table each time.
    /// Tables left in a cycle follow, by name (they are written with foreign keys deferred).
    static func foreignKeyOrder(tables: [String], foreignKeys: [CopyCatalog.ForeignKey]) -> [String] {
        let known = Set(tables)
        var parents: [String: Set<String>] = [:]
        for key in foreignKeys where key.table != key.referencedTable && known.contains(key.table) && known.contains(key.referencedTable) {
            parents[key.table, default: []].insert(key.referencedTable)
        }
        var remaining = Set(tables)
        var order: [String] = []
        while !remaining.isEmpty {
            let ready = remaining.filter { (parents[$0] ?? []).isDisjoint(with: remaining) }.sorted()
            guard let next = ready.first else {
                order += remaining.sorted()
                break
            }
            order.append(next)
            remaining.remove(next)
        }
        return order
    }

    /// Tables that reference themselves or sit on a cycle of references.
    static func cyclicTables(_ catalog: CopyCatalog) -> Set<String> {
        var edges: [String: Set<String>] = [:]
        var result: Set<String> = []
        for key in catalog.foreignKeys {
            if key.table == key.referencedTable { result.insert(key.table) }
            edges[key.table, default: []].insert(key.referencedTable)
        }
        for start in edges.keys {
            var stack = Array(edges[start] ?? [])
            var seen: Set<String> = []
            while let node = stack.popLast() {
                if node == start {
                    result.insert(start)
                    break
                }
                if seen.insert(node).inserted { stack += edges[node] ?? [] }
            }
        }
        return result
    }
}
