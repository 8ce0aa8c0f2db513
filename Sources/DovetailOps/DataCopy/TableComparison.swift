import DovetailStore
import Synchronization

/// Checksums and row-by-row comparison, shared by `db copy` (verification) and `db verify`.
enum TableComparison {
    /// Streams `table` from `snapshot` and returns its count and checksum.
    static func checksum(
        _ table: CopyTable, in snapshot: any CopySnapshot, batchSize: Int, phase: CopyProgress.Phase, total: Int? = nil,
        progress: @Sendable (CopyProgress) -> Void
    ) async throws -> (checksum: TableChecksum, seconds: Double) {
        let clock = ContinuousClock()
        let start = clock.now
        let total = try await Self.total(total, table, snapshot)
        var hasher = RowHasher(table: table)
        var checksum = TableChecksum()
        progress(CopyProgress(phase: phase, table: table.name, rowsDone: 0, rowsTotal: total, elapsed: .zero, isFinished: false))
        try await snapshot.scan(table, batchSize: batchSize) { batch in
            for row in 0..<batch.rowCount { checksum.add(try hasher.digest(batch, row: row)) }
            progress(CopyProgress(phase: phase, table: table.name, rowsDone: checksum.rows, rowsTotal: total, elapsed: start.duration(to: clock.now), isFinished: false))
        }
        let elapsed = start.duration(to: clock.now)
        progress(CopyProgress(phase: phase, table: table.name, rowsDone: checksum.rows, rowsTotal: max(total, checksum.rows), elapsed: elapsed, isFinished: true))
        return (checksum, elapsed / .seconds(1))
    }

    private static func total(_ known: Int?, _ table: CopyTable, _ snapshot: any CopySnapshot) async throws -> Int {
        if let known { return known }
        return try await snapshot.count(table.name)
    }

    struct KeyedDigest: Sendable {
        var key: [CopyValue]
        var digest: UInt64
    }

    /// Reads `table` from both databases in key order and names the first key at which they differ.
    static func firstDifference(_ table: CopyTable, source: Database, target: Database, batchSize: Int) async throws -> String {
        guard table.hasPrimaryKey else {
            return "the table has no primary key, so the differing row cannot be named"
        }
        let left = Pipe<[KeyedDigest]>(capacity: 2)
        let right = Pipe<[KeyedDigest]>(capacity: 2)
        return try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await digests(of: table, in: source, batchSize: batchSize, into: left) }
            group.addTask { try await digests(of: table, in: target, batchSize: batchSize, into: right) }
            let difference: String
            do {
                difference = try await merge(table, left, right)
            } catch {
                await left.close()
                await right.close()
                throw error
            }
            await left.close()
            await right.close()
            while let outcome = await group.nextResult() {
                if case .failure(let error) = outcome, !(error is CancellationError) { throw error }
            }
            return difference
        }
    }

    private static func digests(of table: CopyTable, in database: Database, batchSize: Int, into pipe: Pipe<[KeyedDigest]>) async throws {
        do {
            try await database.withCopySnapshot { snapshot in
                var hasher = RowHasher(table: table)
                try await snapshot.scan(table, batchSize: batchSize) { batch in
                    var items: [KeyedDigest] = []
                    items.reserveCapacity(batch.rowCount)
                    for row in 0..<batch.rowCount {
                        let key = table.keyIndexes.map { batch[row, $0] }
                        items.append(KeyedDigest(key: key, digest: try hasher.digest(batch, row: row)))
                    }
                    try await pipe.send(items)
                }
            }
            await pipe.finish()
        } catch {
            await pipe.finish(throwing: error)
            throw error
        }
    }

    /// Pulls rows one at a time out of a pipe of row batches.
    private struct Cursor {
        let pipe: Pipe<[KeyedDigest]>
        var items: [KeyedDigest] = []
        var index = 0

        mutating func next() async throws -> KeyedDigest? {
            while index >= items.count {
                guard let batch = try await pipe.receive() else { return nil }
                items = batch
                index = 0
            }
            defer { index += 1 }
            return items[index]
        }
    }

    private static func merge(_ table: CopyTable, _ source: Pipe<[KeyedDigest]>, _ target: Pipe<[KeyedDigest]>) async throws -> String {
        var left = Cursor(pipe: source)
        var right = Cursor(pipe: target)
        var a = try await left.next()
        var b = try await right.next()
        while true {
            switch (a, b) {
            case (nil, nil):
                return "no single row differs by key (the checksums disagree on duplicated rows)"
            case (let row?, nil):
                return "row \(table.describeKeyValues(row.key)) is missing from the target"
            case (nil, let row?):
                return "row \(table.describeKeyValues(row.key)) is in the target but not in the source"
            case (let sourceRow?, let targetRow?):
                let order = CopyValue.compareKeys(sourceRow.key, targetRow.key)
                if order < 0 { return "row \(table.describeKeyValues(sourceRow.key)) is missing from the target" }
                if order > 0 { return "row \(table.describeKeyValues(targetRow.key)) is in the target but not in the source" }
                if sourceRow.digest != targetRow.digest { return "row \(table.describeKeyValues(sourceRow.key)) differs" }
                a = try await left.next()
                b = try await right.next()
            }
        }
    }
}

/// Rows done per table, updated by the reading and the writing task alike.
final class ProgressCounter: Sendable {
    private let done = Mutex<Int>(0)

    func add(_ rows: Int) -> Int {
        done.withLock { value in
            value += rows
            return value
        }
    }
}
