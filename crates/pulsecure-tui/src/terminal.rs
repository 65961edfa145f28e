//! The real terminal: raw mode and the alternate screen (restored on exit and on panic, by
//! `ratatui::init`), an event loop that polls input for at most [`POLL`], applies worker
//! replies as they arrive and redraws. Nothing slow runs on this thread.

use std::sync::mpsc::{Receiver, Sender, TryRecvError};
use std::sync::Arc;
use std::time::{Duration, Instant};

use ratatui::crossterm::event::{self, Event, KeyEventKind};

use crate::app::App;
use crate::workbench::Unlocker;
use crate::worker::{self, Reply, Request};

/// Longest wait for input before the screen is refreshed (elapsed times, progress).
pub const POLL: Duration = Duration::from_millis(50);

/// UI state bound to a worker's channels.
pub struct EventLoop {
    /// The state drawn.
    pub app: App,
    requests: Sender<Request>,
    replies: Receiver<Reply>,
}

impl EventLoop {
    /// Bind `app` to a worker's channels.
    pub fn new(app: App, requests: Sender<Request>, replies: Receiver<Reply>) -> Self {
        EventLoop {
            app,
            requests,
            replies,
        }
    }

    /// Apply one terminal event (key presses only; resizes are handled by the next draw).
    pub fn handle_event(&mut self, event: &Event, now: Instant) {
        if let Event::Key(key) = event {
            if key.kind != KeyEventKind::Release {
                for request in self.app.handle_key(*key, now) {
                    if self.requests.send(request).is_err() {
                        self.app.quit = true;
                        self.app.exit_message = Some("the worker thread stopped".into());
                    }
                }
            }
        }
    }

    /// Apply every reply that has arrived, without waiting.
    pub fn drain_replies(&mut self, now: Instant) {
        loop {
            match self.replies.try_recv() {
                Ok(reply) => self.app.handle_reply(reply, now),
                Err(TryRecvError::Empty) => return,
                Err(TryRecvError::Disconnected) => {
                    self.app.quit = true;
                    self.app.exit_message = Some("the worker thread stopped".into());
                    return;
                }
            }
        }
    }
}

/// Run the UI until the user quits. Returns a message to print after the terminal is
/// restored (e.g. after too many wrong passwords).
pub fn run(unlocker: Arc<dyn Unlocker>) -> std::io::Result<Option<String>> {
    let worker = worker::spawn(unlocker)?;
    let mut event_loop = EventLoop::new(App::new(Instant::now()), worker.requests, worker.replies);
    let mut terminal = ratatui::init();
    let outcome = (|| -> std::io::Result<()> {
        while !event_loop.app.quit {
            event_loop.app.tick(Instant::now());
            terminal.draw(|frame| crate::ui::draw(frame, &event_loop.app))?;
            if event::poll(POLL)? {
                let event = event::read()?;
                event_loop.handle_event(&event, Instant::now());
            }
            event_loop.drain_replies(Instant::now());
        }
        Ok(())
    })();
    ratatui::restore();
    outcome.map(|()| event_loop.app.exit_message.take())
}
