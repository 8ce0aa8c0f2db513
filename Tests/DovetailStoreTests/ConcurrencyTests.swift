import DovetailStore
import DovetailTesting
import Foundation
import Testing

@Suite("Concurrent writers")
struct ConcurrencyTests {
    /// Many clients moving cards at once: every column must still be numbered 0…n-1, each card once.
    @Test(arguments: TestBackend.allCases)
    func concurrentMovesKeepPositionsDenseAndUnique(_ backend: TestBackend) async throws {
        try await TestSupport.withStore(backend) { store in
            let project = try await store.projects.create(NewProject(name: "Race"))
            var ids: [String] = []
            for index in 0..<12 { ids.append(try await store.tasks.create(NewTask(projectId: project.id, title: "T\(index)", column: .todo)).id) }
            let columns = BoardColumn.allCases
            let moveIDs = ids
            try await withThrowingTaskGroup(of: Void.self) { group in
                for worker in 0..<8 {
                    group.addTask {
                        for step in 0..<6 {
                            let id = moveIDs[(worker * 7 + step * 5) % moveIDs.count]
                            let column = columns[(worker + step) % columns.count]
                            _ = try await store.tasks.move(id, to: column, position: (worker + step) % 4)
                        }
                    }
                }
                try await group.waitForAll()
            }
            var seen: [String] = []
            for column in columns {
                let cards = try await store.tasks.list(projectId: project.id, column: column, PageRequest(limit: 500)).items
                #expect(cards.map(\.position) == Array(0..<cards.count), "column \(column.rawValue) is not dense: \(cards.map(\.position))")
                seen += cards.map(\.id)
            }
            #expect(Set(seen) == Set(ids))
            #expect(seen.count == ids.count)
        }
    }

    /// 64 writers at once: no `SQLITE_BUSY`, no lost write, and per-session numbers stay dense.
    @Test(arguments: TestBackend.allCases)
    func sixtyFourConcurrentWritersLoseNothing(_ backend: TestBackend) async throws {
        try await TestSupport.withStore(backend) { store in
            let project = try await store.projects.create(NewProject(name: "Load"))
            let session = try await store.sessions.create(NewSession(projectId: project.id))
            try await withThrowingTaskGroup(of: Void.self) { group in
                for writer in 0..<64 {
                    group.addTask {
                        _ = try await store.tasks.create(NewTask(projectId: project.id, title: "w\(writer)"))
                        _ = try await store.events.append(sessionId: session.id, NewSessionEvent(type: "w", payload: .object(["writer": .integer(Int64(writer))])))
                        _ = try await store.messages.append(sessionId: session.id, NewMessage(role: .user, content: "m\(writer)"))
                    }
                }
                try await group.waitForAll()
            }
            let tasks = try await store.tasks.list(projectId: project.id, column: .backlog, PageRequest(limit: 500)).items
            #expect(tasks.count == 64)
            #expect(tasks.map(\.position) == Array(0..<64))
            let events = try await store.events.list(sessionId: session.id, after: 0, limit: 500)
            #expect(events.map(\.seq) == Array(1...64))
            let messages = try await store.messages.list(sessionId: session.id, PageRequest(limit: 500)).items
            #expect(messages.map(\.ordinal) == Array(1...64))
        }
    }

    /// Two separate processes' worth of connections on one SQLite file: the busy timeout and
    /// `BEGIN IMMEDIATE` make the second writer wait instead of failing.
    @Test
    func twoEnginesOnOneSQLiteFileBothWrite() async throws {
        try await TestSupport.withDatabaseURL(.sqliteFile) { url in
            let first = try await Store.open(url, logger: TestSupport.logger)
            let second = try await Store.open(url, logger: TestSupport.logger)
            defer { Task { await first.shutdown(); await second.shutdown() } }
            try await first.migrator.migrate(logger: TestSupport.logger)
            let project = try await first.projects.create(NewProject(name: "Shared"))
            try await withThrowingTaskGroup(of: Void.self) { group in
                for index in 0..<40 {
                    let store = index.isMultiple(of: 2) ? first : second
                    group.addTask { _ = try await store.tasks.create(NewTask(projectId: project.id, title: "t\(index)")) }
                }
                try await group.waitForAll()
            }
            let cards = try await second.tasks.list(projectId: project.id, PageRequest(limit: 500)).items
            #expect(cards.map(\.position) == Array(0..<40))
        }
    }
}
